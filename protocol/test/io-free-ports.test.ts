import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CLAIM_LEASE_MS,
  ephemeralRangeLow,
  freePorts,
  NoFreePortError,
  PICK_RANGE_LOW,
  pickRange,
  refreshPortClaims,
} from '../src/io/index.js';

let registryDir: string;
const servers: Server[] = [];

beforeEach(() => {
  registryDir = mkdtempSync(join(tmpdir(), 'northlight-ports-test-'));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(registryDir, { recursive: true, force: true });
});

function listen(port: number): Promise<Server> {
  const server = createServer();
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A pid that is certainly not running: a child that already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

/** A window of `size` ports that are free now, below the ephemeral range. */
async function freeWindow(size: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const low = PICK_RANGE_LOW + Math.floor(Math.random() * (ephemeralRangeLow() - PICK_RANGE_LOW - size));
    const ports = await freePorts(size, {
      registryDir: join(registryDir, 'probe'),
      range: [low, low + size],
    }).catch(() => undefined);
    if (ports !== undefined) return [low, low + size];
  }
  throw new Error('no free window of ports on this machine');
}

describe('freePorts', () => {
  it('picks distinct bindable ports below the ephemeral range, each claimed by this process', async () => {
    const ports = await freePorts(24, { registryDir });
    expect(new Set(ports).size).toBe(24);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(PICK_RANGE_LOW);
      expect(port).toBeLessThan(ephemeralRangeLow());
      expect(readFileSync(join(registryDir, String(port)), 'utf8').trim()).toBe(String(process.pid));
    }
    // Each one can really be bound.
    for (const port of ports) await listen(port);
  });

  it('never hands out a port another picker claimed, even when it is not bound yet', async () => {
    const range = await freeWindow(8);
    const first = await freePorts(5, { registryDir, range });
    const second = await freePorts(3, { registryDir, range });
    expect(new Set([...first, ...second]).size).toBe(8);
    await expect(freePorts(1, { registryDir, range })).rejects.toBeInstanceOf(NoFreePortError);
  });

  it('skips a port that something already listens on, and leaves no claim behind for it', async () => {
    const [low, high] = await freeWindow(3);
    await listen(low);
    const ports = await freePorts(2, { registryDir, range: [low, high] });
    expect(ports.sort()).toEqual([low + 1, low + 2]);
    expect(() => readFileSync(join(registryDir, String(low)))).toThrow(/ENOENT/);
  });

  it('takes over claims of dead processes and expired leases, but not live ones', async () => {
    const [low, high] = await freeWindow(3);
    writeFileSync(join(registryDir, String(low)), `${deadPid()}\n`);
    writeFileSync(join(registryDir, String(low + 1)), `${process.pid}\n`);
    const expired = (Date.now() - CLAIM_LEASE_MS - 60_000) / 1000;
    utimesSync(join(registryDir, String(low + 1)), expired, expired);
    writeFileSync(join(registryDir, String(low + 2)), `${process.ppid}\n`); // alive, fresh
    const ports = await freePorts(2, { registryDir, range: [low, high] });
    expect(ports.sort()).toEqual([low, low + 1]);
    await expect(freePorts(1, { registryDir, range: [low, high] })).rejects.toThrow(
      /no free port found .* remove stale claims/,
    );
  });

  it('refuses a range that cannot hold the ports asked for', async () => {
    await expect(freePorts(3, { registryDir, range: [20_000, 20_002] })).rejects.toBeInstanceOf(RangeError);
    await expect(freePorts(1, { registryDir, range: [80, 90] })).rejects.toBeInstanceOf(RangeError);
  });

  it('picks outside the ephemeral range wherever it lies, and anywhere only when it spans nearly all', () => {
    expect(pickRange([32_768, 60_999])).toEqual([PICK_RANGE_LOW, 32_768]);
    // A range tuned to start low (a common CI and Kubernetes setting) leaves the ports above it.
    expect(pickRange([1_024, 40_000])).toEqual([40_001, 65_536]);
    expect(pickRange([1_024, 65_535])).toEqual([PICK_RANGE_LOW, 65_536]);
    expect(pickRange([49_152, 65_535])).toEqual([PICK_RANGE_LOW, 49_152]);
  });

  it('leaves only whole claim files behind (each written privately, then linked)', async () => {
    const ports = await freePorts(10, { registryDir });
    expect(readdirSync(registryDir).sort()).toEqual(ports.map(String).sort());
  });

  it('refreshes its claims, and takes back one that lapsed while nobody else claimed it', async () => {
    const [kept, lapsed] = (await freePorts(2, { registryDir })) as [number, number];
    const old = (Date.now() - CLAIM_LEASE_MS + 60_000) / 1000;
    utimesSync(join(registryDir, String(kept)), old, old);
    rmSync(join(registryDir, String(lapsed)));
    refreshPortClaims([kept, lapsed], registryDir);
    expect(Date.now() - statSync(join(registryDir, String(kept))).mtimeMs).toBeLessThan(5_000);
    expect(readFileSync(join(registryDir, String(lapsed)), 'utf8').trim()).toBe(String(process.pid));
    // Another live process's claim is not refreshed into ours.
    writeFileSync(join(registryDir, String(kept)), `${process.ppid}\n`);
    refreshPortClaims([kept], registryDir);
    expect(readFileSync(join(registryDir, String(kept)), 'utf8').trim()).toBe(String(process.ppid));
  });
});
