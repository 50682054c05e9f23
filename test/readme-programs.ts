/**
 * The README's example programs: every ```ts block of README.md belongs to one. A block that
 * starts with `import` begins a program, and the blocks after it in the same `##` section
 * continue it. `console.log(...); // text` lines say what the program prints.
 */
export interface Program {
  section: string;
  /** 1-based README line of the block that begins it */
  line: number;
  source: string;
}

/** The README's programs, in order. */
export function readmePrograms(readme: string): Program[] {
  const programs: Program[] = [];
  let section = '';
  let current: Program | null = null;
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('## ')) {
      section = lines[i].slice(3);
      current = null;
      continue;
    }
    if (lines[i] !== '```ts') continue;
    const start = i + 1;
    do i++;
    while (i < lines.length && lines[i] !== '```');
    const body = lines.slice(start, i).join('\n');
    if (/^(\s*\/\/.*\n)*\s*import /.test(body)) {
      current = { section, line: start, source: body };
      programs.push(current);
    } else if (current === null) {
      throw new Error(`README.md:${start}: a ts block that neither imports nor continues an earlier one in '## ${section}'`);
    } else {
      current.source += `\n${body}`;
    }
  }
  return programs;
}

/** What a program must print: the trailing comment of each `console.log(...);` line. */
export function expectedOutput(source: string): string[] {
  const expected: string[] = [];
  for (const line of source.split('\n')) {
    const m = /^\s*console\.log\(.*\);\s*\/\/ (.*)$/.exec(line);
    if (m) expected.push(m[1].trimEnd());
    else if (/console\.log\(/.test(line)) throw new Error(`a console.log without its expected output as a trailing comment: ${line.trim()}`);
  }
  return expected;
}
