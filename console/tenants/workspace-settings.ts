// The Workspace settings the console edits, and how a saved form becomes a
// server-side apply. The console applies as field manager `holdfast-console`
// and sends only the fields it already manages plus those the person changed:
// a field someone set with kubectl stays theirs (and keeps its value) until
// the console is asked to change it. Dropping a field from the applied
// configuration would let the apiserver remove it, so nothing the console
// owns is ever left out.
import type { StatusCause } from '../../kube/rest.js';
import type { Workspace } from '../../operator/api/workspace.js';

export const CONSOLE_FIELD_MANAGER = 'holdfast-console';

type Kind = 'int' | 'text' | 'bool' | 'lines' | 'destinations';

interface SettingField {
  /** The path in the Workspace, e.g. `spec.backup.retention.daily`; also the form field's name. */
  path: string;
  kind: Kind;
}

/** Every Workspace field the console's forms edit, with the type its form value is read as. */
export const SETTING_FIELDS = [
  { path: 'spec.displayName', kind: 'text' },
  { path: 'spec.suspend', kind: 'bool' },
  { path: 'spec.backup.schedule', kind: 'text' },
  { path: 'spec.backup.retention.hourly', kind: 'int' },
  { path: 'spec.backup.retention.daily', kind: 'int' },
  { path: 'spec.backup.retention.weekly', kind: 'int' },
  { path: 'spec.backup.retention.monthly', kind: 'int' },
  { path: 'spec.backup.retention.yearly', kind: 'int' },
  { path: 'spec.backup.destinations', kind: 'destinations' },
  { path: 'spec.backup.recipients', kind: 'lines' },
  { path: 'spec.backup.verify.schedule', kind: 'text' },
  { path: 'spec.backup.export.schedule', kind: 'text' },
  { path: 'spec.backup.export.retentionDays', kind: 'int' },
  { path: 'spec.deletionPolicy', kind: 'text' },
  { path: 'spec.retention.afterDeletion', kind: 'text' },
] as const satisfies readonly SettingField[];

export type SettingPath = (typeof SETTING_FIELDS)[number]['path'];
export type SettingValue = string | number | boolean | string[] | { name: string }[] | undefined;
export type SettingValues = Partial<Record<SettingPath, SettingValue>>;

const KIND = new Map<string, Kind>(SETTING_FIELDS.map((f) => [f.path, f.kind]));

/** A dotted path, or its keys when one holds a dot (a label key). */
type Path = string | readonly string[];
const keysOf = (path: Path): readonly string[] => (typeof path === 'string' ? path.split('.') : path);

function read(obj: unknown, path: Path): unknown {
  let at: unknown = obj;
  for (const key of keysOf(path)) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function write(obj: Record<string, unknown>, path: Path, value: unknown): void {
  const keys = keysOf(path);
  let at = obj;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = value;
}

/** The current value of every setting, as the form shows it. */
export function currentSettings(ws: Workspace): SettingValues {
  return Object.fromEntries(SETTING_FIELDS.map((f) => [f.path, read(ws, f.path) as SettingValue]));
}

/** A form's values, typed; an empty text field means "not set". Fields absent from the form are left out. */
export function settingsFromForm(form: FormData): SettingValues {
  const values: SettingValues = {};
  for (const { path, kind } of SETTING_FIELDS) {
    // A checkbox is absent when unticked; its hidden marker says the form had it.
    const present = form.has(path) || (kind === 'bool' && form.has(`${path}.present`));
    if (!present) continue;
    const raw = form.get(path);
    const text = typeof raw === 'string' ? raw.trim() : '';
    switch (kind) {
      case 'bool':
        values[path] = raw === 'on' || raw === 'true';
        break;
      case 'int':
        // Left as text when not a whole number: the apiserver's refusal names the field.
        values[path] = text === '' ? undefined : /^-?[0-9]+$/.test(text) ? Number(text) : text;
        break;
      case 'lines': {
        const lines = text
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        values[path] = lines.length ? lines : undefined;
        break;
      }
      case 'destinations': {
        const names = form
          .getAll(path)
          .map((v) => (typeof v === 'string' ? v.trim() : ''))
          .filter(Boolean);
        values[path] = names.length ? names.map((name) => ({ name })) : undefined;
        break;
      }
      default:
        values[path] = text === '' ? undefined : text;
    }
  }
  return values;
}

/** True when the manager's fieldsV1 (`{"f:spec":{"f:backup":{…}}}`) holds the field at `path`. */
export function owns(fieldsV1: unknown, path: string): boolean {
  let at: unknown = fieldsV1;
  for (const key of path.split('.')) {
    if (at === null || typeof at !== 'object') return false;
    at = (at as Record<string, unknown>)[`f:${key}`];
  }
  return at !== undefined;
}

/** The fields the console's own apply manages now, from the Workspace's managedFields. */
export function consoleOwned(ws: Workspace): Set<SettingPath> {
  const entry = ws.metadata.managedFields?.find((m) => m.manager === CONSOLE_FIELD_MANAGER && m.operation === 'Apply');
  return new Set(SETTING_FIELDS.map((f) => f.path).filter((p) => entry && owns(entry.fieldsV1, p)));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export interface ApplyPlan {
  /** The configuration to apply: apiVersion, kind, name and the fields below. */
  config: ApplyConfig;
  /** The fields whose value changes. */
  changed: SettingPath[];
}

export type ApplyConfig = Record<string, unknown> & { metadata: { name: string; labels?: Record<string, string> } };

/**
 * The items of a list the manager's fieldsV1 names: `k:{"name":"a"}` an item
 * of a map-type list by its keys, `v:"x"` a value of a set. An item someone
 * else added is not the console's to send again (it would then co-own it,
 * and keep it when its owner removes it).
 */
function ownedItems(list: unknown[], keys: string[]): unknown[] {
  const wanted = keys.filter((k) => k.startsWith('k:') || k.startsWith('v:'));
  return list.filter((item) =>
    wanted.some((k) => {
      const named = JSON.parse(k.slice(2)) as unknown;
      if (k.startsWith('v:')) return same(item, named);
      if (!item || typeof item !== 'object') return false;
      return Object.entries(named as Record<string, unknown>).every(([field, v]) =>
        same((item as Record<string, unknown>)[field], v),
      );
    }),
  );
}

/**
 * Every field the console's apply owns, at its current value: what the next
 * apply must send again so that the apiserver does not remove it. Walks the
 * manager's fieldsV1; of a list, only the items it names (a whole item each).
 */
export function ownedConfig(ws: Workspace): ApplyConfig {
  const config: ApplyConfig = { apiVersion: ws.apiVersion, kind: ws.kind, metadata: { name: ws.metadata.name } };
  const entry = ws.metadata.managedFields?.find((m) => m.manager === CONSOLE_FIELD_MANAGER && m.operation === 'Apply');
  const walk = (fields: Record<string, unknown>, path: string[]) => {
    const keys = Object.keys(fields).filter((k) => k !== '.');
    if (keys.length === 0 || keys.some((k) => k.startsWith('k:') || k.startsWith('v:') || k.startsWith('i:'))) {
      const value = read(ws, path);
      if (value === undefined) return;
      const keyed = Array.isArray(value) && !keys.some((k) => k.startsWith('i:')) && keys.length > 0;
      write(config, path, structuredClone(keyed ? ownedItems(value as unknown[], keys) : value));
      return;
    }
    for (const key of keys) {
      if (!key.startsWith('f:')) continue;
      const next = [...path, key.slice(2)];
      // Only labels and annotations of metadata are the console's to send.
      if (next[0] === 'metadata' && next.length === 2 && next[1] !== 'labels' && next[1] !== 'annotations') continue;
      if (next[0] === 'status' || next[0] === 'apiVersion' || next[0] === 'kind') continue;
      walk(fields[key] as Record<string, unknown>, next);
    }
  };
  if (entry?.fieldsV1 && typeof entry.fieldsV1 === 'object') walk(entry.fieldsV1 as Record<string, unknown>, []);
  return config;
}

/** Removes the field, and the objects above it that it leaves empty. */
function remove(obj: Record<string, unknown>, path: string): void {
  const keys = path.split('.');
  const parents: Record<string, unknown>[] = [];
  let at: unknown = obj;
  for (const key of keys.slice(0, -1)) {
    if (at === null || typeof at !== 'object') return;
    parents.push(at as Record<string, unknown>);
    at = (at as Record<string, unknown>)[key];
  }
  if (!at || typeof at !== 'object') return;
  delete (at as Record<string, unknown>)[keys.at(-1)!];
  for (let i = parents.length - 1; i >= 0; i--) {
    const child = parents[i]![keys[i]!] as Record<string, unknown>;
    if (Object.keys(child).length > 0) break;
    delete parents[i]![keys[i]!];
  }
}

/**
 * What to apply for a saved form: every field the console already owns (at
 * its new value when the form has it) and every field whose value the person
 * changed. A field the form leaves empty is not sent, so the CRD's default
 * takes its place, or the owner that set it before keeps it.
 */
export function planApply(ws: Workspace, values: SettingValues): ApplyPlan {
  const config = ownedConfig(ws);
  const owned = consoleOwned(ws);
  const current = currentSettings(ws);
  const changed: SettingPath[] = [];
  for (const { path } of SETTING_FIELDS) {
    if (!(path in values)) continue;
    const next = values[path];
    if (same(next, current[path])) continue;
    changed.push(path);
    if (next === undefined) remove(config, path);
    else write(config, path, next);
  }
  // A field the console owns and the form emptied goes back to its default.
  for (const path of owned) if (path in values && values[path] === undefined) remove(config, path);
  return { config, changed };
}

/**
 * The apiserver's refusal as messages per form field: each cause's field
 * (`spec.backup.retention.daily`, `spec.backup.recipients[0]`) goes to the
 * nearest field the form has, the rest to the form as a whole ('').
 */
export function fieldErrors(causes: readonly StatusCause[], fallback: string): Record<string, string> {
  const known = (key: string) => KIND.has(key) || GROUPS.has(key) || CREATE_FIELDS.has(key);
  const errors: Record<string, string> = {};
  const add = (key: string, message: string) => {
    errors[key] = errors[key] ? `${errors[key]}; ${message}` : message;
  };
  for (const cause of causes) {
    const message = cause.message ?? cause.reason ?? 'refused';
    const path = (cause.field ?? '').replace(/\[[^\]]*\]/g, '').replace(/^\./, '');
    let key = path;
    while (key && !known(key)) key = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : '';
    add(key, message);
  }
  if (Object.keys(errors).length === 0) errors[''] = fallback;
  return errors;
}

/** The fields of the new-tenant form, named by their path in the Workspace too. */
export const CREATE_FIELDS = new Set([
  'metadata.name',
  'spec.database.mode',
  'spec.database.serverRef',
  'spec.database',
  'spec.volume.storageClassName',
  'spec.volume.size',
  'spec.volume',
]);

/** Fields the form shows as one group, where a rule about the group as a whole is reported. */
const GROUPS = new Set(['spec.backup.retention', 'spec.backup.export', 'spec.backup.verify', 'spec.backup']);
