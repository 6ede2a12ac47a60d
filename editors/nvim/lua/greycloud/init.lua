-- GreyCloud for Neovim (>= 0.11): a thin client for greycloud-lsp.
--
--   require('greycloud').setup({ emulator = true })
--
-- The language server does the work; this module registers it with
-- vim.lsp.config/vim.lsp.enable, handles the GreyCloud notifications
-- (live token counts, streamed generation chunks, cache status) and
-- provides the :GreyCloud* commands.

local M = {}

M.name = 'greycloud'

--- Default configuration. Every key can be overridden in setup().
M.defaults = {
  -- Server command. `emulator = true` appends `--emulator`.
  cmd = { 'greycloud-lsp' },
  emulator = false,
  log_file = nil, -- appends `--log-file PATH`
  log_level = nil, -- appends `--log-level LEVEL`
  -- nil: every buffer that holds a file; or a list such as { 'python', 'markdown' }.
  filetypes = nil,
  root_markers = { '.git', 'pyproject.toml', 'package.json' },
  -- Server settings (section `greycloud` of the protocol): projectId,
  -- location, model, temperature, tokenCount = {...}, cache = {...}, ...
  settings = {},
  -- Show generation progress from LspProgress in the message area.
  progress = true,
  -- Scratch buffer for :GreyCloudGenerate: 'vsplit', 'split' or 'tab'.
  open = 'vsplit',
  -- Default TTL offered when extending a cache from :GreyCloudCaches.
  extend_ttl_seconds = 3600,
}

M.config = vim.deepcopy(M.defaults)

-- Per-buffer token counts: bufnr -> {tokens, exact, source, version}
M.counts = {}
-- Generations: list of jobs {buf, token, chunks = {[index] = text}, ...}
M.jobs = {}
-- Last results, for status and tests.
M.last = { generate = nil, cache = nil }

local function notify(msg, level)
  vim.notify('GreyCloud: ' .. msg, level or vim.log.levels.INFO)
end

--- The command line used to start the server.
function M.server_cmd(cfg)
  cfg = cfg or M.config
  local cmd = vim.deepcopy(type(cfg.cmd) == 'string' and { cfg.cmd } or cfg.cmd)
  if cfg.emulator and not vim.list_contains(cmd, '--emulator') then
    table.insert(cmd, '--emulator')
  end
  if cfg.log_file then
    vim.list_extend(cmd, { '--log-file', cfg.log_file })
  end
  if cfg.log_level then
    vim.list_extend(cmd, { '--log-level', cfg.log_level })
  end
  return cmd
end

--- Running greycloud client for a buffer (or any greycloud client).
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  if #clients == 0 and bufnr then
    clients = vim.lsp.get_clients({ name = M.name })
  end
  return clients[1]
end

local function require_client(bufnr)
  local client = M.client(bufnr)
  if not client then
    notify('language server is not running for this buffer (see :checkhealth greycloud)', vim.log.levels.ERROR)
  end
  return client
end

--- Run a server command with ONE argument object; cb(err, result).
function M.exec(command, args, cb, bufnr)
  local client = require_client(bufnr)
  if not client then
    return nil
  end
  local ok, id = client:request('workspace/executeCommand', {
    command = command,
    arguments = { args or vim.empty_dict() },
  }, function(err, result)
    if cb then
      cb(err, result)
    elseif err then
      notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
  end, bufnr)
  if not ok then
    notify('could not send ' .. command, vim.log.levels.ERROR)
    return nil
  end
  return id, client
end

------------------------------------------------------------------------
-- Token counts
------------------------------------------------------------------------

local function bufnr_for_uri(uri)
  local ok, b = pcall(vim.uri_to_bufnr, uri)
  if ok and vim.api.nvim_buf_is_loaded(b) then
    return b
  end
  return nil
end

local function on_token_count(_, params)
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
  M.counts[b] = {
    tokens = params.tokens,
    exact = params.exact,
    source = params.source,
    version = params.version,
  }
  vim.cmd('redrawstatus')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudTokenCount', modeline = false, data = params })
end

--- Token count of a buffer for the statusline: "~120 tok" (estimate), "118 tok" (exact) or "".
function M.statusline(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local c = M.counts[bufnr]
  if not c or c.tokens == nil then
    return ''
  end
  return string.format('%s%d tok', c.exact and '' or '~', c.tokens)
end

--- Progress messages of the GreyCloud server (from vim.lsp.status()).
function M.progress()
  local client = M.client()
  if not client then
    return ''
  end
  return vim.lsp.status()
end

function M.tokens(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  M.exec('greycloud.countTokens', { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }, function(err, res)
    if err then
      notify('count tokens failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
      return
    end
    M.counts[bufnr] = vim.tbl_extend('force', M.counts[bufnr] or {}, {
      tokens = res.tokens,
      exact = res.exact,
      source = res.source,
    })
    vim.cmd('redrawstatus')
    notify(string.format('%d tokens (%s, %s)', res.tokens, res.exact and 'exact' or 'estimate', res.source or '?'))
  end, bufnr)
end

------------------------------------------------------------------------
-- Generation
------------------------------------------------------------------------

local function job_text(job)
  local parts = {}
  local i = 0
  while job.chunks[i] ~= nil do
    parts[#parts + 1] = job.chunks[i]
    i = i + 1
  end
  return table.concat(parts)
end

local function set_buf_text(buf, text)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
end

local function open_scratch(title)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].filetype = 'markdown'
  pcall(vim.api.nvim_buf_set_name, buf, string.format('greycloud://generate/%d', buf))
  local prev_win = vim.api.nvim_get_current_win()
  local how = M.config.open
  if how == 'tab' then
    vim.cmd('tab split')
  elseif how == 'split' then
    vim.cmd('split')
  else
    vim.cmd('vsplit')
  end
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_set_current_win(prev_win)
  vim.b[buf].greycloud_title = title
  return buf
end

local function find_job_for_token(token)
  for _, job in ipairs(M.jobs) do
    if job.token == token then
      return job
    end
  end
  -- First chunk of a new generation: claim the oldest job still without a token.
  for _, job in ipairs(M.jobs) do
    if job.token == nil and not job.done then
      job.token = token
      return job
    end
  end
  -- A single running generation takes any chunk.
  local running = vim.tbl_filter(function(j)
    return not j.done
  end, M.jobs)
  if #running == 1 then
    return running[1]
  end
end

local function on_chunk(_, params)
  if type(params) ~= 'table' or params.index == nil then
    return
  end
  local job = find_job_for_token(params.token)
  if not job then
    return
  end
  job.chunks[params.index] = params.text or ''
  job.updates = job.updates + 1
  job.streamed = job_text(job)
  set_buf_text(job.buf, job.streamed)
end

local function on_progress(ev)
  local data = ev.data or {}
  local client = vim.lsp.get_client_by_id(data.client_id or -1)
  if not client or client.name ~= M.name then
    return
  end
  local params = data.params or {}
  local value = params.value or {}
  -- Bind the work-done token to the oldest waiting generation.
  if value.kind == 'begin' and value.title == 'Gemini' then
    for _, job in ipairs(M.jobs) do
      if job.token == params.token then
        break
      end
      if job.token == nil and not job.done then
        job.token = params.token
        break
      end
    end
  end
  if M.config.progress then
    local msg = (value.title or 'GreyCloud') .. (value.message and (': ' .. value.message) or '')
    if value.percentage then
      msg = msg .. string.format(' (%d%%)', value.percentage)
    end
    vim.api.nvim_echo({ { msg } }, false, {})
  end
end

local function remove_job(job)
  for i, j in ipairs(M.jobs) do
    if j == job then
      table.remove(M.jobs, i)
      return
    end
  end
end

--- Generate. opts: {prompt, range = {start_line, end_line} (1-based, inclusive), insert, bufnr}
function M.generate(opts)
  opts = opts or {}
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  local prompt = opts.prompt
  if prompt == nil or prompt == '' then
    vim.ui.input({ prompt = 'GreyCloud prompt: ' }, function(input)
      if input and input ~= '' then
        M.generate(vim.tbl_extend('force', opts, { prompt = input, bufnr = bufnr }))
      end
    end)
    return
  end
  local client = require_client(bufnr)
  if not client then
    return
  end
  local args = { prompt = prompt }
  local is_file = vim.bo[bufnr].buftype == '' and vim.api.nvim_buf_get_name(bufnr) ~= ''
  if is_file then
    args.textDocument = { uri = vim.uri_from_bufnr(bufnr) }
  end
  if opts.range and is_file then
    local s, e = opts.range[1], opts.range[2]
    local last = vim.api.nvim_buf_get_lines(bufnr, e - 1, e, false)[1] or ''
    -- LSP positions use UTF-16 code units.
    local endchar = vim.str_utfindex(last, 'utf-16')
    args.range = { start = { line = s - 1, character = 0 }, ['end'] = { line = e - 1, character = endchar } }
  end
  if opts.insert and opts.insert ~= 'none' and is_file then
    args.insert = opts.insert
    if not args.range then
      local row = vim.api.nvim_win_get_cursor(0)[1]
      local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
      local c = vim.str_utfindex(line, 'utf-16')
      args.range = { start = { line = row - 1, character = c }, ['end'] = { line = row - 1, character = c } }
    end
  end
  for k, v in pairs(opts.extra or {}) do
    args[k] = v
  end

  local job = { prompt = prompt, chunks = {}, updates = 0, streamed = '', client_id = client.id }
  job.buf = opts.insert and opts.insert ~= 'none' and bufnr or open_scratch(prompt)
  job.scratch = job.buf ~= bufnr
  table.insert(M.jobs, job)
  local id = M.exec('greycloud.generate', args, function(err, result)
    job.done = true
    remove_job(job)
    if err then
      job.error = err
      M.last.generate = job
      notify('generate failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    job.result = result
    M.last.generate = job
    if job.scratch and result and result.text and result.text ~= job.streamed then
      -- The final text is authoritative (e.g. chunks were missed).
      set_buf_text(job.buf, result.text)
    end
    local usage = (result and result.usage) or {}
    notify(string.format(
      '%s (%s, %s tokens out)%s',
      result.cancelled and 'generation cancelled' or 'generation done',
      result.model or '?',
      tostring(usage.outputTokens or '?'),
      result.finishReason and (' finish: ' .. tostring(result.finishReason)) or ''
    ))
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudGenerateDone', modeline = false })
  end, bufnr)
  job.request_id = id
  if not id then
    remove_job(job)
  end
  return job
end

--- Cancel the running generations (progress cancel when the token is known, else $/cancelRequest).
function M.cancel()
  if #M.jobs == 0 then
    notify('nothing to cancel')
    return 0
  end
  local n = 0
  for _, job in ipairs(M.jobs) do
    local client = vim.lsp.get_client_by_id(job.client_id)
    if client then
      if job.token ~= nil then
        client:notify('window/workDoneProgress/cancel', { token = job.token })
      elseif job.request_id then
        client:cancel_request(job.request_id)
      end
      job.cancel_sent = true
      n = n + 1
    end
  end
  notify(string.format('cancel sent (%d)', n))
  return n
end

------------------------------------------------------------------------
-- Caches
------------------------------------------------------------------------

local function on_cache_status(_, params)
  if type(params) ~= 'table' then
    return
  end
  if params.stale then
    notify(string.format('cache %s is stale: %s', params.name or '?', params.reason or 'workspace changed'), vim.log.levels.WARN)
  end
end

function M.cache_workspace(args, cb)
  local client = require_client(0)
  if not client then
    return
  end
  args = args or {}
  if not args.folder and client.root_dir then
    args.folder = vim.uri_from_fname(client.root_dir)
  end
  notify('caching workspace files...')
  M.exec('greycloud.cacheWorkspace', args, function(err, res)
    if err then
      M.last.cache = { error = err }
      notify('cache workspace failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
    else
      M.last.cache = res
      notify(string.format(
        'cached %d file(s), %s tokens as %s (expires %s)%s',
        #(res.files or {}),
        tostring(res.tokens),
        res.name or '?',
        res.expireTime or '?',
        (res.skipped and #res.skipped > 0) and string.format('; skipped %d', #res.skipped) or ''
      ))
    end
    if cb then
      cb(err, res)
    end
  end, 0)
end

function M.caches()
  M.exec('greycloud.listCaches', vim.empty_dict(), function(err, list)
    if err then
      notify('list caches failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
      return
    end
    if not list or #list == 0 then
      notify('no caches')
      return
    end
    vim.ui.select(list, {
      prompt = 'GreyCloud caches',
      format_item = function(c)
        return string.format('%s  %s tok  %s  expires %s%s%s', c.displayName or c.name, tostring(c.tokens),
          c.model or '', c.expireTime or '?', c.ownedByServer and '' or '  (not ours)', c.stale and '  STALE' or '')
      end,
    }, function(cache)
      if not cache then
        return
      end
      vim.ui.select({ 'Extend TTL', 'Delete' }, { prompt = cache.displayName or cache.name }, function(action)
        if action == 'Delete' then
          M.exec('greycloud.deleteCache', { name = cache.name }, function(e)
            if e then
              notify('delete failed: ' .. (e.message or '?'), vim.log.levels.ERROR)
            else
              notify('deleted ' .. cache.name)
            end
          end)
        elseif action == 'Extend TTL' then
          vim.ui.input({ prompt = 'TTL seconds: ', default = tostring(M.config.extend_ttl_seconds) }, function(ttl)
            ttl = tonumber(ttl)
            if not ttl then
              return
            end
            M.exec('greycloud.extendCache', { name = cache.name, ttlSeconds = ttl }, function(e, r)
              if e then
                notify('extend failed: ' .. (e.message or '?'), vim.log.levels.ERROR)
              else
                notify(string.format('%s now expires %s', r.name or cache.name, r.expireTime or '?'))
              end
            end)
          end)
        end
      end)
    end)
  end)
end

------------------------------------------------------------------------
-- Setup
------------------------------------------------------------------------

local function root_dir(bufnr, on_dir)
  local root = vim.fs.root(bufnr, M.config.root_markers)
  on_dir(root or vim.fn.getcwd())
end

--- The vim.lsp.Config registered as `greycloud`.
function M.lsp_config()
  local cfg = M.config
  local settings = vim.deepcopy(cfg.settings or {})
  return {
    cmd = M.server_cmd(cfg),
    filetypes = cfg.filetypes,
    root_dir = root_dir,
    init_options = settings,
    settings = { greycloud = settings },
    handlers = {
      ['greycloud/tokenCount'] = on_token_count,
      ['greycloud/generationChunk'] = on_chunk,
      ['greycloud/cacheStatus'] = on_cache_status,
    },
    on_exit = function()
      M.jobs = {}
    end,
  }
end

local augroup
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.cmd then
    M.config.cmd = opts.cmd -- lists are replaced, not merged
  end
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes
  end
  vim.lsp.config(M.name, M.lsp_config())
  vim.lsp.enable(M.name)

  augroup = vim.api.nvim_create_augroup('greycloud', { clear = true })
  vim.api.nvim_create_autocmd('LspProgress', { group = augroup, callback = on_progress })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = augroup,
    callback = function(ev)
      M.counts[ev.buf] = nil
    end,
  })
  -- Push changed settings to a running server.
  vim.api.nvim_create_autocmd('User', {
    group = augroup,
    pattern = 'GreyCloudSettingsChanged',
    callback = function()
      for _, c in ipairs(vim.lsp.get_clients({ name = M.name })) do
        c.settings = { greycloud = vim.deepcopy(M.config.settings) }
        c:notify('workspace/didChangeConfiguration', { settings = c.settings })
      end
    end,
  })
  M._setup_done = true
  return M
end

return M
