import type { Condition } from '../api/workspace.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * Puts `next` into `list`, keeping lastTransitionTime when the status did not
 * change, so that a status write happens only when something did.
 */
export function setCondition(
  list: readonly Condition[],
  next: ConditionInput,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const previous = list.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const condition: Condition = {
    ...next,
    lastTransitionTime,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...list.filter((c) => c.type !== next.type), condition].sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}
