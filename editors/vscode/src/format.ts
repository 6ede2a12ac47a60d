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
  if (cost && typeof cost.withCache === 'number' && typeof cost.withoutCache === 'number') {
    const currency = cost.currency ?? 'USD';
    parts.push(
      u.cachedTokens
        ? `prompt est. ${formatMoney(cost.withCache, currency)} with the cache vs ${formatMoney(cost.withoutCache, currency)} without`
        : `prompt est. ${formatMoney(cost.withoutCache, currency)}`,
    );
  }
  if (result.cancelled) {
    parts.push('cancelled');
  }
  return parts.join(' · ');
}

/** What "Ask the Workspace" will cache, for the confirmation dialog. */
export function planSummary(plan: CachePlan, folderName: string): { message: string; detail: string } {
  const hours = plan.ttlSeconds ? plan.ttlSeconds / 3600 : undefined;
  const storage =
    typeof plan.storageCostPerHour === 'number'
      ? `Keeping it costs about ${formatMoney(plan.storageCostPerHour, plan.currency)} per hour of storage`
      : 'Storage is billed per hour while the cache lives';
  const lines = [
    `${storage}${hours ? `; it expires after ${hours < 1 ? `${Math.round(hours * 60)} minutes` : `${hours} h`} unless in use` : ''}.`,
  ];
  if (typeof plan.inputPricePerMillion === 'number' && typeof plan.cachedInputPricePerMillion === 'number') {
    lines.push(
      `Each question then pays ${formatMoney(plan.cachedInputPricePerMillion, plan.currency)} instead of ` +
        `${formatMoney(plan.inputPricePerMillion, plan.currency)} per million cached tokens.`,
    );
  }
  if (typeof plan.minimumTokens === 'number' && plan.tokens < plan.minimumTokens) {
    lines.push(`Too small to cache: ${formatNumber(plan.tokens)} < ${formatNumber(plan.minimumTokens)} tokens for ${plan.model}.`);
  }
  const shown = plan.files.slice(0, 8).join(', ') + (plan.files.length > 8 ? `, … (${plan.files.length - 8} more)` : '');
  lines.push(`Files: ${shown}`);
  if (plan.skipped?.length) {
    lines.push(`Skipped ${plan.skipped.length} (ignored, binary, too big or secret-looking).`);
  }
  return {
    message:
      `Cache ${plan.files.length} files of ${folderName} (${plan.exact === false ? '~' : ''}${formatNumber(plan.tokens)} tokens, ` +
      `${plan.model}) to ask questions against them?`,
    detail: lines.join('\n'),
  };
}
