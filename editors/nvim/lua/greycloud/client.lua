-- The running greycloud-lsp client and the one way to call its commands.

local M = {}

M.name = 'greycloud'

---@param msg string
---@param level? integer
function M.notify(msg, level)
  vim.notify('GreyCloud: ' .. msg, level or vim.log.levels.INFO)
end

--- Running greycloud client for a buffer (or any greycloud client).
---@param bufnr? integer
---@return vim.lsp.Client?
function M.get(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  if #clients == 0 and bufnr then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  return clients[1]
end

---@param bufnr? integer
---@return vim.lsp.Client?
function M.require(bufnr)
  local client = M.get(bufnr)
  if not client then
    M.notify('language server is not running for this buffer (see :checkhealth greycloud)', vim.log.levels.ERROR)
  end
  return client
end

--- The buffer a request is about: `bufnr`, or the current one when nil or 0.
---@param bufnr? integer
---@return integer
function M.buffer(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

--- When `opts[field]` is empty, ask the user for it (`vim.ui.input`) and call `again`
--- with it filled in (nothing when they cancel). Returns true when it asked.
---@param opts table
---@param field string
---@param prompt string
---@param again fun(opts: table)
---@return boolean
function M.ask_for(opts, field, prompt, again)
  if opts[field] and opts[field] ~= '' then
    return false
  end
  vim.ui.input({ prompt = prompt }, function(input)
    if input and input ~= '' then
      again(vim.tbl_extend('force', opts, { [field] = input }))
    end
  end)
  return true
end

local next_token = 0

--- A fresh work-done progress token chosen by this client.
---@return string
function M.new_token()
  next_token = next_token + 1
  return string.format('greycloud-nvim-%d-%d', vim.fn.getpid(), next_token)
end

--- Run a server command with ONE argument object; cb(err, result).
--- `work_done_token` goes in the ExecuteCommandParams (the server reports progress on it).
---@param command string
---@param args? table
---@param cb? fun(err: lsp.ResponseError?, result: any)
---@param bufnr? integer
---@param work_done_token? string
---@return integer? request_id
---@return vim.lsp.Client? client
function M.exec(command, args, cb, bufnr, work_done_token)
  local client = M.require(bufnr)
  if not client then
    return nil
  end
  local ok, id = client:request('workspace/executeCommand', {
    command = command,
    arguments = { args or vim.empty_dict() },
    workDoneToken = work_done_token,
  }, function(err, result)
    if cb then
      cb(err, result)
    elseif err then
      M.notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
  end, bufnr)
  if not ok then
    M.notify('could not send ' .. command, vim.log.levels.ERROR)
    return nil
  end
  return id, client
end

--- The workspace folder of the client, as a file URI (nil when unknown).
---@param client vim.lsp.Client
---@return string?
function M.folder_uri(client)
  return client.root_dir and vim.uri_from_fname(client.root_dir) or nil
end

return M
