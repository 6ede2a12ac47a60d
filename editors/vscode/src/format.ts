// Pure text formatting for messages and the status bar (no vscode import).

import { CachePlan, GenerateResult } from './protocol';

export function formatNumber(n: number | null | undefined): string {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '?';
}

/** Dollars with enough digits to show small amounts: $0.0042, $1.25. */
export function formatMoney(amount: number | undefined, currency = 'USD'): string {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    return '?';
  }
  const sign = currency === 'USD' ? '$' : `${currency} `;
  if (amount === 0) {
    return `${sign}0`;
  }
  const digits = amount >= 1 ? 2 : Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(amount)) + 1));
  return `${sign}${amount.toFixed(digits)}`;
}

/** Time left until `expireMs`: "45s", "12m", "1h 05m"; "expired" when past. */
export function formatRemaining(expireMs: number, nowMs: number): string {
  const seconds = Math.floor((expireMs - nowMs) / 1000);
  if (seconds <= 0) {
    return 'expired';
  }
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m`;
  }
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** One line on what a generation used and, with a cache, what it saved. */
export function usageLine(result: GenerateResult): string {
  const u = result.usage ?? {};
  const parts = [`${result.model ?? 'Gemini'}`, `${formatNumber(u.promptTokens)} tokens in`];
  if (u.cachedTokens) {
    parts[1] += ` (${formatNumber(u.cachedTokens)} cached)`;
  }
  parts.push(`${formatNumber(u.outputTokens)} out`);
  const cost = result.cost;
  if (cost && typeof cost.inputCostWithCache === 'number' && typeof cost.inputCostWithoutCache === 'number') {
    const currency = cost.currency ?? 'USD';
    parts.push(
      `input est. ${formatMoney(cost.inputCostWithCache, currency)} with the cache vs ` +
        `${formatMoney(cost.inputCostWithoutCache, currency)} without` +
        (typeof cost.savingPercent === 'number' ? ` (${Math.round(cost.savingPercent)}% saved)` : ''),
    );
  }
  if (result.cacheStale) {
    parts.push('asked a stale cache');
  }
  if (result.cancelled) {
    parts.push('cancelled');
  }
  return parts.join(' · ');
}

export function isCacheable(plan: CachePlan): boolean {
  if (typeof plan.cacheable === 'boolean') {
    return plan.cacheable;
  }
  return !(typeof plan.minimumTokens === 'number' && plan.tokens < plan.minimumTokens);
}

/** What "Ask the Workspace" will cache, for the confirmation dialog. */
export function planSummary(plan: CachePlan, folderName: string): { message: string; detail: string } {
  const hours = plan.ttlSeconds ? plan.ttlSeconds / 3600 : undefined;
  const storage =
    typeof plan.storageCostPerHour === 'number'
      ? `Keeping it costs about ${formatMoney(plan.storageCostPerHour, plan.currency)} per hour of storage`
      : 'Storage is billed per hour while the cache lives';
  const lifetime = hours ? (hours < 1 ? `${Math.round(hours * 60)} minutes` : `${hours} h`) : undefined;
  const lines = [
    `${storage}` +
      (lifetime
        ? `; it lives ${lifetime}${typeof plan.storageCostForTtl === 'number' ? ` (≈ ${formatMoney(plan.storageCostForTtl, plan.currency)})` : ''}`
        : '') +
      '. Questions against it then pay a fraction of the input price for the cached tokens.',
  ];
  if (!isCacheable(plan)) {
    lines.push(`Too small to cache: ${formatNumber(plan.tokens)} < ${formatNumber(plan.minimumTokens)} tokens for ${plan.model}.`);
  }
  const shown = plan.files.slice(0, 8).join(', ') + (plan.files.length > 8 ? `, … (${plan.files.length - 8} more)` : '');
  lines.push(`Files: ${shown}`);
  if (plan.skipped?.length) {
    lines.push(`Skipped ${plan.skipped.length} (ignored, binary, too big or secret-looking).`);
  }
  return {
    message:
      `Cache ${plan.files.length} files of ${folderName} (${formatNumber(plan.tokens)} tokens, ` +
      `${plan.model}) to ask questions against them?`,
    detail: lines.join('\n'),
  };
}
