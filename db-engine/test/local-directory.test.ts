// Proves the engine-local volume directory's membership changes and its file (volume.json), on a real
// disk: a version-1 file (golden fixture, written before quorum sets) loads as single configurations;
// a replacement begun on it is written as version 2, byte for byte the version-2 golden fixture, and
// survives a reopen; once completed it is written as version 1 again; the same change again is a no-op, an older epoch or the same epoch with other
// content is NL_MEMBERSHIP_STALE, a bad quorum set or unknown PG NL_CONFIG_INVALID, and a refused change
// leaves the file alone. A promoted replica's seed carries quorum sets and keeps the newer membership of
// each PG. `GET /v1/volume` shows the quorum sets, and the writer's membership route parses a request
// into a change or names what is wrong with it. A membership storage holds becomes a change only when
// it is newer and a single configuration (six members with their nodes); a change in flight does not.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  asEpoch,
  asNodeId,
  asPgId,
  beginReplacement,
  completeReplacement,
  isNorthlightError,
  markHydrated,
  type NodeId,
  type SegmentId,
} from '@northlight/protocol';
import { NodeDisk } from '@northlight/protocol/io';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalVolumeDirectory, type SegmentProvisioner } from '../src/core/local-directory.js';
import { type MembershipChange, membershipFromStorage, type PgPlacement } from '../src/core/volume.js';
import { membershipChangeOf } from '../src/io/membership-http.js';
import { volumeJson } from '../src/io/replication-http.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const NODES = (['s1', 's2', 's3', 's4', 's5', 's6', 's7'] as const).map((id) => ({
  nodeId: asNodeId(id),
  zone: { s1: 'a', s2: 'a', s3: 'b', s4: 'b', s5: 'c', s6: 'c', s7: 'a' }[id],
}));
const refuse: SegmentProvisioner = {
  createSegment: () => Promise.reject(new Error('no segment is created here')),
};

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function dataDir(fixture?: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'northlight-directory-'));
  directories.push(directory);
  if (fixture !== undefined) copyFileSync(join(FIXTURES, fixture), join(directory, 'volume.json'));
  return directory;
}

function open(directory: string): Promise<LocalVolumeDirectory> {
  return LocalVolumeDirectory.open({
    disk: new NodeDisk(directory),
    directory: '.',
    pagesPerPg: 64,
    nodes: NODES.slice(0, 6),
    provisioner: refuse,
  });
}

/** PG 0 of the fixtures: begin replacing pg0-s1 by pg0-s7 on s7, at membership epoch 2. */
function beginOf(placement: PgPlacement): MembershipChange {
  return {
    membershipEpoch: asEpoch(2n),
    quorumSet: beginReplacement(placement.quorumSet, 'pg0-s1' as SegmentId, 'pg0-s7' as SegmentId),
    nodeOf: new Map(placement.nodeOf).set('pg0-s7' as SegmentId, 's7' as NodeId),
  };
}

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'applied',
    (error: unknown) => (isNorthlightError(error) ? error.code : String(error)),
  );
}

describe('LocalVolumeDirectory membership changes and volume.json', () => {
  it('loads a version-1 file as single configurations and writes version 2 mid-change, as the golden fixture', async () => {
    const directory = dataDir('volume-v1.json');
    const volume = await open(directory);
    const [pg0, pg1] = volume.pgs();
    expect(pg0!.quorumSet).toEqual({ configurations: [pg0!.members], hydrating: [] });
    expect(pg1!.members).toEqual(['pg1-s1', 'pg1-s2', 'pg1-s3', 'pg1-s4', 'pg1-s5', 'pg1-s6']);
    const begun = await volume.updateMembership(asPgId(0), beginOf(pg0!));
    expect(begun.members).toEqual(['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6', 'pg0-s7']);
    expect(begun.nodeOf.get('pg0-s7' as SegmentId)).toBe('s7');
    expect(readFileSync(join(directory, 'volume.json'), 'utf8')).toBe(
      readFileSync(join(FIXTURES, 'volume-v2.json'), 'utf8'),
    );
    const reopened = await open(directory);
    expect(reopened.pgs()).toEqual(volume.pgs());
  });

  it('decodes the version-2 golden fixture', async () => {
    const volume = await open(dataDir('volume-v2.json'));
    const pg0 = volume.pgs()[0]!;
    expect(pg0.membershipEpoch).toBe(2n);
    expect(pg0.quorumSet.configurations).toHaveLength(2);
    expect(pg0.quorumSet.hydrating).toEqual(['pg0-s7']);
    expect(volume.pgs()[1]!.quorumSet.configurations).toHaveLength(1);
  });

  it('takes the same change twice as one, and refuses stale, conflicting and invalid ones untouched', async () => {
    const directory = dataDir('volume-v1.json');
    const volume = await open(directory);
    const pg0 = volume.pgs()[0]!;
    const begun = await volume.updateMembership(asPgId(0), beginOf(pg0));
    const written = readFileSync(join(directory, 'volume.json'), 'utf8');
    expect(await volume.updateMembership(asPgId(0), beginOf(pg0))).toBe(begun);
    expect(
      await code(volume.updateMembership(asPgId(0), { ...beginOf(pg0), membershipEpoch: asEpoch(1n) })),
    ).toBe('NL_MEMBERSHIP_STALE');
    expect(
      await code(volume.updateMembership(asPgId(0), { ...beginOf(pg0), quorumSet: pg0.quorumSet })),
    ).toBe('NL_MEMBERSHIP_STALE');
    const next = { ...beginOf(pg0), membershipEpoch: asEpoch(3n) };
    const invalid: MembershipChange[] = [
      { ...next, quorumSet: { configurations: [pg0.members.slice(0, 5)], hydrating: [] } },
      {
        ...next,
        quorumSet: { configurations: [[...pg0.members.slice(0, 5), pg0.members[0]!]], hydrating: [] },
      },
      { ...next, quorumSet: { configurations: [], hydrating: [] } },
      { ...next, quorumSet: { ...next.quorumSet, hydrating: ['pg0-s9' as SegmentId] } },
      { ...next, nodeOf: pg0.nodeOf }, // pg0-s7 has no node
      { ...next, nodeOf: new Map(next.nodeOf).set('pg0-s7' as SegmentId, 's2' as NodeId) }, // two on s2
    ];
    for (const change of invalid)
      expect(await code(volume.updateMembership(asPgId(0), change))).toBe('NL_CONFIG_INVALID');
    expect(await code(volume.updateMembership(asPgId(7), next))).toBe('NL_CONFIG_INVALID');
    expect(readFileSync(join(directory, 'volume.json'), 'utf8')).toBe(written);
    // Completing it: one configuration again, without pg0-s1.
    const completed = await volume.updateMembership(asPgId(0), {
      membershipEpoch: asEpoch(3n),
      quorumSet: completeReplacement(
        markHydrated(begun.quorumSet, 'pg0-s7' as SegmentId),
        'pg0-s1' as SegmentId,
      ),
      nodeOf: begun.nodeOf,
    });
    expect(completed.members).toEqual(['pg0-s7', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6']);
    expect([...completed.nodeOf.keys()]).toEqual(completed.members);
    expect((await open(directory)).pgs()[0]).toEqual(completed);
    // One configuration per PG again: written as version 1, which the previous release reads.
    const file = JSON.parse(readFileSync(join(directory, 'volume.json'), 'utf8'));
    expect(file.format).toBe('northlight-volume/1');
    expect(file.pgs[0]).toEqual({
      pgId: 0,
      membershipEpoch: '3',
      members: ['pg0-s7', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'],
      nodes: ['s7', 's2', 's3', 's4', 's5', 's6'],
    });
  });

  it("seeds a promoted replica's directory with quorum sets, keeping each PG's newer membership", async () => {
    const writer = await open(dataDir('volume-v1.json'));
    await writer.updateMembership(asPgId(0), beginOf(writer.pgs()[0]!));
    const directory = dataDir('volume-v1.json'); // the replica's own, older list
    await LocalVolumeDirectory.seed({
      disk: new NodeDisk(directory),
      directory: '.',
      pagesPerPg: 64,
      pgs: writer.pgs(),
    });
    expect((await open(directory)).pgs()).toEqual(writer.pgs());
    await LocalVolumeDirectory.seed({
      disk: new NodeDisk(directory),
      directory: '.',
      pagesPerPg: 64,
      pgs: (await open(dataDir('volume-v1.json'))).pgs(), // older: changes nothing
    });
    expect((await open(directory)).pgs()).toEqual(writer.pgs());
  });

  it('shows quorum sets in GET /v1/volume beside the fields replicas and the control plane read', async () => {
    const volume = await open(dataDir('volume-v2.json'));
    const json = volumeJson(volume);
    expect(json.pgs[0]).toEqual({
      pgId: 0,
      membershipEpoch: '2',
      members: ['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6', 'pg0-s7'],
      nodeOf: {
        'pg0-s1': 's1',
        'pg0-s2': 's2',
        'pg0-s3': 's3',
        'pg0-s4': 's4',
        'pg0-s5': 's5',
        'pg0-s6': 's6',
        'pg0-s7': 's7',
      },
      configurations: [
        ['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'],
        ['pg0-s7', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'],
      ],
      hydrating: ['pg0-s7'],
    });
  });
});

describe('POST /v1/admin/membership bodies', () => {
  const storage = NODES.map((node) => node.nodeId);
  const old = ['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'];
  const joined = ['pg0-s7', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'];
  const nodeOf = Object.fromEntries([...old, 'pg0-s7'].map((segment) => [segment, segment.slice(4)]));
  const body = {
    pgId: 0,
    membershipEpoch: '2',
    configurations: [old, joined],
    hydrating: ['pg0-s7'],
    nodeOf,
  };

  it('turns a valid body into a change', () => {
    const { pgId, change } = membershipChangeOf(body, storage);
    expect(pgId).toBe(0);
    expect(change.membershipEpoch).toBe(2n);
    expect(change.quorumSet).toEqual({ configurations: [old, joined], hydrating: ['pg0-s7'] });
    expect(change.nodeOf.get('pg0-s7' as SegmentId)).toBe('s7');
  });

  it('names what is wrong, as NL_CONFIG_INVALID', () => {
    const problems: [object, RegExp][] = [
      [{ configurations: [old.slice(0, 5)] }, /configuration 0 must be 6 distinct segment ids/],
      [{ configurations: [[...old.slice(0, 5), 'pg0-s1']] }, /6 distinct/],
      [{ configurations: [] }, /at least one configuration/],
      [{ hydrating: ['pg0-s9'] }, /hydrating pg0-s9 in no configuration/],
      [{ nodeOf: { ...nodeOf, 'pg0-s7': undefined } }, /no node given for pg0-s7/],
      [{ nodeOf: { ...nodeOf, 'pg0-s7': 's9' } }, /s9 \(of pg0-s7\) not among this engine's storage nodes/],
      [{ nodeOf: { ...nodeOf, 'pg0-s7': 'S7!' } }, /not a node id/],
      [{ configurations: [old, ['Bad', ...joined.slice(1)]] }, /"Bad" is not a segment id/],
      [{ membershipEpoch: '99999999999999999999' }, /not a u64/],
    ];
    for (const [override, message] of problems) {
      const bad = JSON.parse(JSON.stringify({ ...body, ...override }));
      let thrown: unknown;
      try {
        membershipChangeOf(bad, storage);
      } catch (error) {
        thrown = error;
      }
      expect(isNorthlightError(thrown, 'NL_CONFIG_INVALID'), JSON.stringify(override)).toBe(true);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});

describe('placement advice (the control plane places new PGs)', () => {
  const accept: SegmentProvisioner = { createSegment: () => Promise.resolve() };
  const openWith = (directory: string) =>
    LocalVolumeDirectory.open({
      disk: new NodeDisk(directory),
      directory: '.',
      pagesPerPg: 64,
      nodes: NODES,
      provisioner: accept,
    });

  it('uses valid advice, and places the PG itself when there is none or it breaks the rules', async () => {
    const directory = await openWith(dataDir());
    const advice: (readonly string[] | undefined)[] = [
      ['s7', 's2', 's3', 's4', 's5', 's6'], // valid: s7 instead of s1 in zone a
      undefined, // the control plane did not answer
      ['s1', 's7', 's2', 's3', 's5', 's6'], // three in zone a
      ['s1', 's2', 's3', 's4', 's5', 's9'], // a node the engine does not know
      ['s1', 's1', 's3', 's4', 's5', 's6'], // twice the same node
    ];
    const asked: number[] = [];
    directory.setAdvisor({
      advise: async (pgId, pgs) => {
        asked.push(pgId);
        expect(pgs).toHaveLength(pgId);
        return advice[pgId]?.map((node) => asNodeId(node));
      },
    });
    const placements: PgPlacement[] = [];
    for (let pg = 0; pg < advice.length; pg++) placements.push(await directory.addPg());
    expect(asked).toEqual([0, 1, 2, 3, 4]);
    expect([...placements[0]!.nodeOf.values()]).toEqual(['s7', 's2', 's3', 's4', 's5', 's6']);
    expect(placements[0]!.members[0]).toBe('pg0-s7');
    for (const placement of placements.slice(1)) {
      const nodes = [...placement.nodeOf.values()];
      expect(new Set(nodes).size).toBe(6);
      const zones = nodes.map((node) => NODES.find((candidate) => candidate.nodeId === node)!.zone);
      for (const zone of ['a', 'b', 'c'])
        expect(zones.filter((candidate) => candidate === zone)).toHaveLength(2);
    }
  });
});

describe('a membership taken from storage (a writer whose list is older)', () => {
  it('is a single configuration of six newer members, in placement order; nothing else', async () => {
    const volume = await open(dataDir('volume-v2.json'));
    const begun = volume.pgs()[0]!; // epoch 2: pg0-s1 being replaced by pg0-s7
    const stored = (epoch: bigint, members: string[]) => ({
      membershipEpoch: asEpoch(epoch),
      members: members as SegmentId[],
      memberNodes: members.map((member) => asNodeId(member.slice(4))),
    });
    const completed = ['pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6', 'pg0-s7'];
    const change = membershipFromStorage(begun, stored(3n, [...completed].reverse()));
    expect(change?.membershipEpoch).toBe(3n);
    // The joiner in the leaver's place, as completeReplacement leaves the configuration.
    const joined = ['pg0-s7', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'];
    expect(change?.quorumSet).toEqual({ configurations: [joined], hydrating: [] });
    expect(change?.nodeOf.get('pg0-s7' as SegmentId)).toBe('s7');
    const applied = await volume.updateMembership(asPgId(0), change!);
    expect(applied.members).toEqual(joined);
    // Reverted: the original configuration, in its order.
    const original = ['pg0-s1', 'pg0-s2', 'pg0-s3', 'pg0-s4', 'pg0-s5', 'pg0-s6'];
    expect(membershipFromStorage(begun, stored(3n, [...original].reverse()))?.quorumSet).toEqual({
      configurations: [original],
      hydrating: [],
    });
    // Not newer; a change in flight (only the union is stored); nodes missing; two on one node.
    expect(membershipFromStorage(begun, stored(2n, completed))).toBeUndefined();
    expect(membershipFromStorage(begun, stored(3n, [...completed, 'pg0-s1']))).toBeUndefined();
    expect(
      membershipFromStorage(begun, { ...stored(3n, completed), memberNodes: [asNodeId('s2')] }),
    ).toBeUndefined();
    expect(
      membershipFromStorage(begun, {
        ...stored(3n, completed),
        memberNodes: completed.map(() => asNodeId('s2')),
      }),
    ).toBeUndefined();
  });
});
