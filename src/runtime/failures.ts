/** How a handler's failure reads in telemetry (lastError) and in NoReplyError, the same on both backends. */
export const failureOfCode = (code: number): string => `failed with code ${code}`;
export const failureOfException = (error: unknown): string => `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
