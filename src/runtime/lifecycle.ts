/**
 * A kernel's life in the runtime: launch (the checks, the record, the backend's kernel; a launch
 * that meets a loss or a shutdown frees what it made and refuses), and terminate (after the
 * kernels that send to it; what was called before it is carried out first, then its waiting
 * senders and receivers reject and its queues and buffers are freed). The states and the
 * operations each allows are in kernels.ts and state.ts.
 */
import type { SendAdmission } from './admission.js';
import type { Backend, BackendKernel } from './backend.js';
import { checkRoom, resolveLaunchConfig, type LaunchConfig } from './config.js';
import { KernelAlreadyExistsError, KernelStateError } from './errors.js';
import { sameSchema, type RingKernelDefinition } from './kernel.js';
import { stateOf, type KernelRecord, type KernelTable } from './kernels.js';
import type { Requests } from './requests.js';
import type { TickScheduler } from './scheduler.js';
import { KernelState } from './state.js';
import { KernelClock } from './telemetry.js';
import { checkWgsl } from './wgsl-check.js';

/** What the lifecycle asks of the runtime. */
export interface LifecycleHost {
  readonly backendKind: 'cpu' | 'gpu';
  readonly backend: Backend | null;
  readonly lostError: Error | null;
  readonly kernels: KernelTable;
  readonly requests: Requests;
  readonly admission: SendAdmission;
  readonly scheduler: TickScheduler;
  /** starts the runtime (idempotent) */
  start(): Promise<void>;
  /** the GPU backend's once-per-process warm-up of the host paths, or null when there is none to wait for */
  warm(): Promise<void> | null;
  /** CPU backend: a device to compile a kernel's WGSL on at launch, or null (the GPU backend compiles it itself) */
  wgslDevice(): GPUDevice | null;
}

export class Lifecycle {
  constructor(private readonly host: LifecycleHost) {}

  /** Launches a kernel (LAUNCHED: it takes messages, processes none until activated). Starts the runtime if needed. */
  async launch(id: string, def: RingKernelDefinition, config: LaunchConfig): Promise<void> {
    const h = this.host;
    if (typeof id !== 'string' || id === '') throw new TypeError('kernel id must be a non-empty string');
    if (typeof def !== 'object' || def === null || def.inputEnvelope === undefined) throw new TypeError(`launch('${id}'): the kernel must come from defineRingKernel()`);
    const cfg = resolveLaunchConfig(id, def, config);
    if (h.kernels.has(id)) throw new KernelAlreadyExistsError(id);
    if (h.backendKind === 'cpu' && def.cpu === undefined) {
      throw new TypeError(`kernel '${id}' (${def.name}) has no cpu handler: it cannot run on the 'cpu' backend`);
    }
    if (h.lostError) throw h.lostError;
    if (cfg.sendsTo !== undefined) {
      const downstream = h.kernels.downstreamFor(id, cfg.sendsTo);
      if (def.output === undefined) throw new TypeError(`kernel '${id}' is a sink: it has no outputs to send to '${cfg.sendsTo}'`);
      if (!sameSchema(def.output, downstream.def.input)) {
        throw new TypeError(`kernel '${id}' emits ${def.output.name} but '${cfg.sendsTo}' consumes ${downstream.def.input.name}: sendsTo needs the same schema`);
      }
      checkRoom(id, def, downstream);
    }
    await h.start();
    const warming = h.warm();
    if (warming !== null) await warming;
    // (the world may have changed while the backend started)
    if (h.lostError) throw h.lostError;
    const backend = h.backend;
    if (backend === null) throw new Error(`launch('${id}'): the runtime was shut down while it started`);
    if (h.kernels.has(id)) throw new KernelAlreadyExistsError(id);
    const wgslDevice = h.wgslDevice();
    if (wgslDevice !== null) {
      // the WGSL the GPU backend would run, compiled: what does not compile is refused here too
      await checkWgsl(wgslDevice, id, def, cfg.maxMessagesPerTick);
      if (h.lostError) throw h.lostError;
      if (h.backend !== backend) throw new Error(`launch('${id}'): the runtime was shut down while it started`);
      if (h.kernels.has(id)) throw new KernelAlreadyExistsError(id);
    }
    const downstream = cfg.sendsTo !== undefined ? h.kernels.downstreamFor(id, cfg.sendsTo) : undefined;
    if (downstream !== undefined) checkRoom(id, def, downstream);
    const record: KernelRecord = { id, def, config: cfg, state: KernelState.CREATED, kernel: null, clock: new KernelClock(), launching: null, terminating: null };
    h.kernels.add(record);
    const creating = backend.createKernel(id, def, cfg, downstream?.kernel ?? null);
    record.launching = creating;
    let kernel: BackendKernel;
    try {
      kernel = await creating;
    } catch (error) {
      h.kernels.forget(record);
      throw error;
    } finally {
      record.launching = null;
    }
    if (h.kernels.find(id) !== record || h.lostError !== null || h.backend !== backend) {
      // the device was lost (or the runtime shut down) while the kernel was created: free it, refuse
      h.kernels.forget(record);
      const error = h.lostError ?? new Error(`launch('${id}'): the runtime was shut down while the kernel was created`);
      await kernel.dispose(error).catch(() => undefined);
      throw error;
    }
    record.kernel = kernel;
    record.state = KernelState.LAUNCHED;
  }

  /** terminate(); `why` ends the message of what it rejects. */
  terminate(r: KernelRecord, why: string): Promise<void> {
    const h = this.host;
    if (r.terminating !== null) return r.terminating; // (a second terminate joins the first)
    const upstream = h.kernels.upstreamOf(r);
    const live = upstream.find((u) => u.terminating === null);
    if (live !== undefined) {
      return Promise.reject(new KernelStateError(r.id, stateOf(r), 'terminate', `kernel '${live.id}' sends to it (terminate it first)`));
    }
    // kernels sending to it that are on their way out: this terminate follows theirs
    const after = upstream.map((u) => u.terminating!.catch(() => undefined));
    r.terminating = after.length === 0 ? this.takeDown(r, why) : Promise.all(after).then(() => this.takeDown(r, why));
    return r.terminating;
  }

  private async takeDown(r: KernelRecord, why: string): Promise<void> {
    const h = this.host;
    const id = r.id;
    if (r.launching !== null) await r.launching.catch(() => undefined);
    // (its launch failed, or the runtime lost its device: there is nothing left to take down,
    // and the id may already be another kernel's)
    if (h.kernels.find(id) !== r) return;
    r.state = KernelState.TERMINATING;
    r.clock.setActive(false);
    try {
      await h.scheduler.settled();
      // sends made before terminate that waited for that tick's readback are made now (no send is
      // admitted to a kernel on its way out, so every one of them was made before); the flush
      // below carries them out
      h.admission.apply((record) => record === r);
      // Operations the caller made before terminate are carried out first, as they would be at
      // once on the CPU: a receive of an output that is there gets it (GPU queues record operations
      // until the next submission; discarding them would lose that output).
      while (r.kernel !== null && r.kernel.hasHostWork && h.backend !== null && h.lostError === null) await h.scheduler.nextTick();
      const sendGone = new KernelStateError(id, KernelState.TERMINATED, 'send', `${why} while the operation waited`);
      const receiveGone = new KernelStateError(id, KernelState.TERMINATED, 'receive', `${why} while the operation waited`);
      // the requests whose messages this kernel held are gone with them; those already downstream are answered there
      h.requests.kernelTerminated(id, new KernelStateError(id, KernelState.TERMINATED, 'send', `${why}: the request's message was still in its input queue`));
      r.kernel?.rejectWaiters(sendGone, receiveGone);
      await r.kernel?.dispose(receiveGone);
    } finally {
      r.state = KernelState.TERMINATED;
      h.kernels.forget(r);
    }
  }

  /**
   * Terminates `r` and every kernel that sends to it, upstream first. Every terminate is begun in
   * this turn (so from now on no kernel can start sending to one of them); each follows those of
   * the kernels sending to it.
   */
  terminateWithUpstream(r: KernelRecord): Promise<void> {
    const h = this.host;
    if (h.kernels.find(r.id) !== r) return Promise.resolve();
    if (r.terminating !== null) return r.terminating;
    const upstream = h.kernels.upstreamOf(r).map((u) => this.terminateWithUpstream(u));
    return Promise.all([...upstream, this.terminate(r, 'the kernel was terminated')]).then(() => undefined);
  }
}
