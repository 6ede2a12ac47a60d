-- GreyCloud for Neovim (>= 0.11): a thin client for greycloud-lsp.
--
--   require('greycloud').setup({ emulator = true })
--
-- The language server does the work. Modules, one job each:
--   config   options (LuaCATS-typed), server command, settings sent to the server
--   client   the running client; calling server commands
--   lsp      the vim.lsp.Config (notification handlers)
--   tokens   live token counts, :GreyCloudTokens
--   generate :GreyCloudGenerate, streaming into a scratch buffer, :GreyCloudCancel
--   cache    :GreyCloudCacheWorkspace, :GreyCloudCaches, cache status
--   ask      :GreyCloudAsk (ask the cached workspace)
--   completion  inline completions as ghost text (accept / word / line / dismiss keys)
--   health   :checkhealth greycloud
-- Code actions: vim.lsp.buf.code_action() lists the server's; their command runs
-- through generate.run_code_action (streams prose answers into a scratch buffer).

local ask = require('greycloud.ask')
local cache = require('greycloud.cache')
local client = require('greycloud.client')
local completion = require('greycloud.completion')
local config = require('greycloud.config')
local generate = require('greycloud.generate')
local lsp = require('greycloud.lsp')
local tokens = require('greycloud.tokens')

local M = {}

M.name = client.name
M.defaults = config.defaults
M.config = config.values
--- Per-buffer token counts (bufnr -> {tokens, exact, source, version}).
M.counts = tokens.counts
--- Running generations.
M.jobs = generate.jobs
--- Cache states from greycloud/cacheStatus, by cache name.
M.cache_statuses = cache.statuses

--- Last results, for status and tests: {generate = job, cache = result}.
M.last = setmetatable({}, {
  __index = function(_, key)
    if key == 'generate' then
      return generate.last
    elseif key == 'cache' then
      return cache.last
    end
  end,
})

M.client = client.get
M.exec = client.exec
M.server_cmd = config.server_cmd
M.lsp_config = lsp.config
M.generate = generate.generate
M.cancel = generate.cancel
M.tokens = tokens.count
M.cache_workspace = cache.cache_workspace
M.caches = cache.caches
M.ask = ask.ask
--- Inline completions: accept(kind?), dismiss(), toggle(), visible(), stats.
M.completion = completion

--- Statusline component: the buffer's token count, "~120 tok" (estimate) or "118 tok" (exact).
M.statusline = tokens.statusline
--- Statusline component: the workspace cache, "cache fresh 59m" / "cache stale 12m" / "".
M.cache_statusline = cache.statusline

--- Progress messages of the GreyCloud server (from vim.lsp.status()).
function M.progress()
  return client.get() and vim.lsp.status() or ''
end

local augroup
---@param opts? greycloud.Options
function M.setup(opts)
  M.config = config.set(opts)
  vim.lsp.config(M.name, lsp.config())
  vim.lsp.enable(M.name)
  -- Code actions carry this command: run it here so prose answers stream into a buffer.
  vim.lsp.commands['greycloud.runCodeAction'] = generate.run_code_action

  augroup = vim.api.nvim_create_augroup('greycloud', { clear = true })
  vim.api.nvim_create_autocmd('LspProgress', { group = augroup, callback = generate.on_progress })
  completion.setup(augroup)
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = augroup,
    callback = function(ev)
      tokens.counts[ev.buf] = nil
    end,
  })
  -- Push changed settings (edit require('greycloud').config.settings first) to a running server.
  vim.api.nvim_create_autocmd('User', {
    group = augroup,
    pattern = 'GreyCloudSettingsChanged',
    callback = lsp.push_settings,
  })
  M._setup_done = true
  return M
end

return M
