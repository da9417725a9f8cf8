/** `values` in consecutive slices of at most `size` (for bounded `IN (…)` lists and multi-row INSERTs). */
export function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}
