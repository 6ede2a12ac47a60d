-- The vim.lsp.Config registered as `greycloud`.

local cache = require('greycloud.cache')
local client = require('greycloud.client')
local completion = require('greycloud.completion')
local config = require('greycloud.config')
local generate = require('greycloud.generate')
local tokens = require('greycloud.tokens')

local M = {}

local function root_dir(bufnr, on_dir)
  local root = vim.fs.root(bufnr, config.values.root_markers)
  on_dir(root or vim.fn.getcwd())
end

---@return vim.lsp.Config
function M.config()
  local cfg = config.values
  return {
    cmd = config.server_cmd(cfg),
    filetypes = cfg.filetypes,
    root_dir = root_dir,
    init_options = config.server_settings(),
    settings = { greycloud = config.server_settings() },
    handlers = {
      ['greycloud/tokenCount'] = tokens.on_token_count,
      ['greycloud/generationChunk'] = generate.on_chunk,
      ['greycloud/cacheStatus'] = cache.on_cache_status,
    },
    on_init = function()
      cache.reset() -- a restarted server holds none of the previous one's caches yet
    end,
    on_exit = function()
      generate.reset()
      cache.reset()
      completion.dismiss()
    end,
  }
end

--- Send the current `settings` option to every running greycloud client.
function M.push_settings()
  for _, c in ipairs(vim.lsp.get_clients({ name = client.name })) do
    c.settings = { greycloud = config.server_settings() }
    c:notify('workspace/didChangeConfiguration', { settings = c.settings })
  end
end

return M
