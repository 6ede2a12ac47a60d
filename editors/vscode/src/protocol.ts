// The greycloud-lsp wire contract as this client uses it (see greycloud_lsp/README.md).

export const Commands = {
  generate: 'greycloud.generate',
  countTokens: 'greycloud.countTokens',
  cacheWorkspace: 'greycloud.cacheWorkspace',
  workspaceCacheState: 'greycloud.workspaceCacheState',
  listCaches: 'greycloud.listCaches',
  deleteCache: 'greycloud.deleteCache',
  extendCache: 'greycloud.extendCache',
  runCodeAction: 'greycloud.runCodeAction',
  completionAccepted: 'greycloud.completionAccepted',
  completionStats: 'greycloud.completionStats',
} as const;

export const Notifications = {
  tokenCount: 'greycloud/tokenCount',
  cacheStatus: 'greycloud/cacheStatus',
  generationChunk: 'greycloud/generationChunk',
} as const;

export interface TokenCount {
  uri: string;
  version: number;
  tokens: number;
  exact: boolean;
  source: string;
}

export interface Usage {
  promptTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  totalTokens?: number;
}

/** What the cache saved on one question: input side, estimated from greycloud.pricing. */
export interface Cost {
  currency?: string;
  model?: string;
  cachedTokens?: number;
  promptTokens?: number;
  inputCostWithCache: number;
  inputCostWithoutCache: number;
  saving?: number;
  savingPercent?: number;
}

export interface GenerateResult {
  text: string;
  model?: string;
  finishReason?: string;
  cancelled?: boolean;
  usage?: Usage;
  cost?: Cost | null;
  cachedContent?: string | null;
  cacheStale?: boolean;
}

/** greycloud.runCodeAction: a generate result, plus whether its edit was applied (null: prose). */
export interface CodeActionResult extends GenerateResult {
  applied?: boolean | null;
  id?: string;
}

export interface GenerationChunk {
  token: string | number;
  index: number;
  text: string;
}

/** An entry of greycloud.listCaches. */
export interface CacheInfo {
  name: string;
  displayName?: string | null;
  model?: string | null;
  tokens?: number | null;
  expireTime?: string | null;
  ownedByServer?: boolean;
  stale?: boolean;
  folder?: string | null;
  files?: number | null;
}

export interface CacheWorkspaceResult {
  name: string;
  displayName?: string | null;
  model: string;
  tokens?: number | null;
  expireTime?: string | null;
  files: string[];
  skipped: { path: string; reason: string }[];
}

/** greycloud.cacheWorkspace with `dryRun: true`: what it would upload and what keeping it costs. */
export interface CachePlan {
  folder?: string;
  model: string;
  files: string[];
  skipped?: { path: string; reason: string }[];
  bytes?: number;
  tokens: number;
  minimumTokens?: number | null;
  cacheable?: boolean;
  ttlSeconds?: number;
  storageCostPerHour?: number;
  storageCostForTtl?: number;
  currency?: string;
}

/** One server-owned workspace cache (greycloud.workspaceCacheState). */
export interface OwnedCacheInfo {
  name: string;
  displayName?: string | null;
  model?: string | null;
  tokens?: number | null;
  expireTime?: string | null;
  expiresInSeconds?: number | null;
  stale: boolean;
  staleReason?: string;
  /** The folder (a path, or a file uri) the cache was made from. */
  folder?: string | null;
}

export interface WorkspaceCacheState {
  state: 'fresh' | 'stale' | 'none';
  folder: string;
  cache: OwnedCacheInfo | null;
}

/** Notification greycloud/cacheStatus: sent on create, stale, extend and delete. */
export interface CacheStatus {
  name: string;
  stale: boolean;
  reason?: string;
  deleted?: boolean;
  expireTime?: string | null;
  tokens?: number | null;
  folder?: string | null;
  displayName?: string | null;
}
