-- Live token counts (greycloud/tokenCount) and :GreyCloudTokens.

local client = require('greycloud.client')

local M = {}

---@class greycloud.TokenCount
---@field tokens integer
---@field exact boolean
---@field source? 'api'|'local'|'estimate'
---@field version? integer

--- bufnr -> count
---@type table<integer, greycloud.TokenCount>
M.counts = {}

local function bufnr_for_uri(uri)
  local ok, b = pcall(vim.uri_to_bufnr, uri)
  if ok and vim.api.nvim_buf_is_loaded(b) then
    return b
  end
  return nil
end

--- Handler of the `greycloud/tokenCount` notification.
function M.on_token_count(_, params)
  if type(params) ~= 'table' or not params.uri then
    return
  end
  local b = bufnr_for_uri(params.uri)
  if not b then
    return
  end
  local prev = M.counts[b]
  -- Never let an older document version replace a newer count.
  if prev and params.version and prev.version and params.version < prev.version then
    return
  end
  M.counts[b] = { tokens = params.tokens, exact = params.exact, source = params.source, version = params.version }
  vim.cmd('redrawstatus')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudTokenCount', modeline = false, data = params })
end

--- Token count of a buffer for the statusline: "~120 tok" (estimate), "118 tok" (exact) or "".
---@param bufnr? integer
---@return string
function M.statusline(bufnr)
  local c = M.counts[client.buffer(bufnr)]
  if not c or c.tokens == nil then
    return ''
  end
  return string.format('%s%d tok', c.exact and '' or '~', c.tokens)
end

--- :GreyCloudTokens: count the buffer now and say the result.
---@param bufnr? integer
function M.count(bufnr)
  bufnr = client.buffer(bufnr)
  client.exec('greycloud.countTokens', { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }, function(err, res)
    if err then
      client.notify('count tokens failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
      return
    end
    M.counts[bufnr] = vim.tbl_extend('force', M.counts[bufnr] or {}, {
      tokens = res.tokens,
      exact = res.exact,
      source = res.source,
    })
    vim.cmd('redrawstatus')
    client.notify(string.format('%d tokens (%s, %s)', res.tokens, res.exact and 'exact' or 'estimate', res.source or '?'))
  end, bufnr)
end

return M
