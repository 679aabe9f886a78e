// How a component's versioning strategy reads a tag: whether it is a version at all, its semantic
// version, its channel (stable for releases, beta for prereleases by default) and its order.
import semver from 'semver';
import type { Component } from './model.js';

export type Strategy = Component['versioningStrategy'];

export type TagReading =
  | { ok: true; tag: string; semver: string | null; channel: string; key: string | number }
  | { ok: false; tag: string; reason: string };

const DATE_RE = /^\d{4}[-.]?\d{2}[-.]?\d{2}(?:[-.T]?\d{2,6})?$/;

/** The channel of a version: the strategy's mapping, then the defaults (release → default channel, prerelease → beta). */
function channelOf(strategy: Strategy, defaultChannel: string, prerelease: readonly (string | number)[]): string {
  const ch = strategy.channels;
  if (prerelease.length === 0) return ch?.release ?? defaultChannel;
  const id = String(prerelease[0]);
  return ch?.byPrerelease?.[id] ?? ch?.prerelease ?? 'beta';
}

/** Reads one tag under a strategy; a tag that is not a version says why, so callers can report it. */
export function readTag(strategy: Strategy, defaultChannel: string, tag: string): TagReading {
  if (strategy.tagPattern && !new RegExp(strategy.tagPattern).test(tag)) {
    return { ok: false, tag, reason: `does not match tagPattern ${strategy.tagPattern}` };
  }
  let value = tag;
  if (strategy.semverExtract) {
    const m = new RegExp(strategy.semverExtract).exec(tag);
    if (!m?.[1]) return { ok: false, tag, reason: `semverExtract ${strategy.semverExtract} captures nothing in it` };
    value = m[1];
  }
  switch (strategy.type) {
    case 'semver': {
      const v = semver.parse(value);
      if (!v) return { ok: false, tag, reason: `"${value}" is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE])` };
      return { ok: true, tag, semver: v.version, channel: channelOf(strategy, defaultChannel, v.prerelease), key: v.version };
    }
    case 'sequential':
      if (!/^\d{1,15}$/.test(value)) return { ok: false, tag, reason: `"${value}" is not a sequence number` };
      return { ok: true, tag, semver: null, channel: defaultChannel, key: Number(value) };
    case 'date':
      if (!DATE_RE.test(value)) return { ok: false, tag, reason: `"${value}" is not a date such as 2026-01-31 or 20260131` };
      return { ok: true, tag, semver: null, channel: defaultChannel, key: value.replace(/[-.T]/g, '') };
    case 'manual':
      return { ok: true, tag, semver: null, channel: defaultChannel, key: tag };
  }
}

/** Orders readings newest version first; manual strategies have no order of their own (callers fall back to time). */
export function compareNewestFirst(strategy: Strategy, a: TagReading & { ok: true }, b: TagReading & { ok: true }): number {
  if (strategy.type === 'semver') return semver.rcompare(String(a.key), String(b.key));
  if (strategy.type === 'sequential') return Number(b.key) - Number(a.key);
  if (strategy.type === 'date') return String(b.key).localeCompare(String(a.key));
  return 0;
}
