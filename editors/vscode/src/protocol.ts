// The greycloud-lsp wire contract as this client uses it (see greycloud_lsp/README.md).

export const Commands = {
  generate: 'greycloud.generate',
  countTokens: 'greycloud.countTokens',
  cacheWorkspace: 'greycloud.cacheWorkspace',
  planWorkspaceCache: 'greycloud.planWorkspaceCache',
  listCaches: 'greycloud.listCaches',
  deleteCache: 'greycloud.deleteCache',
  extendCache: 'greycloud.extendCache',
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

/** Prompt-side cost estimate from greycloud.pricing (newer servers only). */
export interface Cost {
  currency?: string;
  model?: string;
  withCache: number;
  withoutCache: number;
}

export interface GenerateResult {
  text: string;
  model?: string;
  finishReason?: string;
  cancelled?: boolean;
  usage?: Usage;
  cost?: Cost;
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

/** greycloud.planWorkspaceCache: what cacheWorkspace would upload, and what it costs to keep. */
export interface CachePlan {
  folder?: string;
  model: string;
  files: string[];
  skipped?: { path: string; reason: string }[];
  bytes?: number;
  tokens: number;
  exact?: boolean;
  minimumTokens?: number | null;
  ttlSeconds?: number;
  storageCostPerHour?: number;
  currency?: string;
  inputPricePerMillion?: number;
  cachedInputPricePerMillion?: number;
}

/** Notification greycloud/cacheStatus; newer servers send every field on every change. */
export interface CacheStatus {
  name: string;
  stale: boolean;
  reason?: string;
  state?: 'fresh' | 'stale' | 'expired' | 'deleted';
  folder?: string | null;
  displayName?: string | null;
  model?: string | null;
  tokens?: number | null;
  expireTime?: string | null;
}
