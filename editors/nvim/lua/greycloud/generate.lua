-- :GreyCloudGenerate: streamed generation into a scratch buffer (or the buffer itself).
-- Each generation has a work-done token chosen here, so chunks and progress are
-- matched to their generation exactly.

local client = require('greycloud.client')
local config = require('greycloud.config')

local M = {}

---@class greycloud.Job
---@field prompt string
---@field token string work-done token (progress, chunks, cancel)
---@field chunks table<integer, string> index -> text
---@field updates integer chunks received
---@field streamed string text so far
---@field buf integer where the text goes
---@field scratch boolean buf is a scratch buffer
---@field client_id integer
---@field request_id? integer
---@field done? boolean
---@field result? table the greycloud.generate result
---@field error? table
---@field footer? fun(result: table): string? text appended to the scratch buffer when done

--- Running generations, oldest first.
---@type greycloud.Job[]
M.jobs = {}
--- The last finished generation.
---@type greycloud.Job?
M.last = nil

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
  local how = config.values.open
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

local function job_for_token(token)
  for _, job in ipairs(M.jobs) do
    if job.token == token then
      return job
    end
  end
end

--- Handler of the `greycloud/generationChunk` notification.
function M.on_chunk(_, params)
  if type(params) ~= 'table' or params.index == nil then
    return
  end
  local job = job_for_token(params.token)
  if not job then
    return -- e.g. a code action's generation: its answer comes as a message
  end
  job.chunks[params.index] = params.text or ''
  job.updates = job.updates + 1
  job.streamed = job_text(job)
  if job.scratch then
    set_buf_text(job.buf, job.streamed)
  end
end

--- LspProgress autocmd: echo GreyCloud progress.
function M.on_progress(ev)
  local data = ev.data or {}
  local c = vim.lsp.get_client_by_id(data.client_id or -1)
  if not c or c.name ~= client.name or not config.values.progress then
    return
  end
  local value = (data.params or {}).value or {}
  local msg = (value.title or 'GreyCloud') .. (value.message and (': ' .. value.message) or '')
  if value.percentage then
    msg = msg .. string.format(' (%d%%)', value.percentage)
  end
  vim.api.nvim_echo({ { msg } }, false, {})
end

local function remove_job(job)
  for i, j in ipairs(M.jobs) do
    if j == job then
      table.remove(M.jobs, i)
      return
    end
  end
end

--- The selection (1-based inclusive lines) as an LSP range (UTF-16 columns).
local function lsp_range(bufnr, first, last)
  local last_line = vim.api.nvim_buf_get_lines(bufnr, last - 1, last, false)[1] or ''
  return {
    start = { line = first - 1, character = 0 },
    ['end'] = { line = last - 1, character = vim.str_utfindex(last_line, 'utf-16') },
  }
end

---@class greycloud.GenerateRequest
---@field prompt? string asked for when empty
---@field range? integer[] {first_line, last_line}, 1-based inclusive: sent as context
---@field insert? 'none'|'replace'|'after' edit the buffer instead of opening a scratch buffer
---@field include_document? boolean send the whole file (default: options.generate.include_document)
---@field bufnr? integer
---@field extra? table more greycloud.generate arguments (e.g. cachedContent)
---@field footer? fun(result: table): string?
---@field on_done? fun(job: greycloud.Job)

--- Start a generation. Returns the job (nil when nothing was sent).
---@param opts greycloud.GenerateRequest
---@return greycloud.Job?
function M.generate(opts)
  opts = opts or {}
  local bufnr = client.buffer(opts.bufnr)
  opts = vim.tbl_extend('force', opts, { bufnr = bufnr })
  if client.ask_for(opts, 'prompt', 'GreyCloud prompt: ', M.generate) then
    return
  end
  local prompt = opts.prompt
  local c = client.require(bufnr)
  if not c then
    return
  end
  local args = { prompt = prompt }
  local is_file = vim.bo[bufnr].buftype == '' and vim.api.nvim_buf_get_name(bufnr) ~= ''
  local include = opts.include_document
  if include == nil then
    include = config.values.generate.include_document
  end
  if is_file then
    args.textDocument = { uri = vim.uri_from_bufnr(bufnr) }
    if include and not opts.range then
      args.includeDocument = true
    end
  end
  if opts.range and is_file then
    args.range = lsp_range(bufnr, opts.range[1], opts.range[2])
  end
  if opts.insert and opts.insert ~= 'none' and is_file then
    args.insert = opts.insert
    if not args.range and not args.includeDocument then
      local row = vim.api.nvim_win_get_cursor(0)[1]
      local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
      local col = vim.str_utfindex(line, 'utf-16')
      args.range = { start = { line = row - 1, character = col }, ['end'] = { line = row - 1, character = col } }
    end
  end
  for k, v in pairs(opts.extra or {}) do
    args[k] = v
  end

  return M.start('greycloud.generate', args, {
    bufnr = bufnr,
    title = prompt,
    scratch = not (opts.insert and opts.insert ~= 'none' and is_file),
    footer = opts.footer,
    on_done = opts.on_done,
  })
end

---@class greycloud.StartOptions
---@field bufnr integer
---@field title string
---@field scratch boolean stream into a new scratch buffer (else the server edits bufnr)
---@field footer? fun(result: table): string?
---@field on_done? fun(job: greycloud.Job)

--- Run a streaming server command (greycloud.generate or greycloud.runCodeAction) as a job
--- with its own work-done token.
---@param command string
---@param args table
---@param opts greycloud.StartOptions
---@return greycloud.Job?
function M.start(command, args, opts)
  local c = client.require(opts.bufnr)
  if not c then
    return nil
  end
  ---@type greycloud.Job
  local job = {
    prompt = opts.title,
    token = client.new_token(),
    chunks = {},
    updates = 0,
    streamed = '',
    client_id = c.id,
    footer = opts.footer,
    scratch = opts.scratch,
  }
  job.buf = job.scratch and open_scratch(opts.title) or opts.bufnr
  table.insert(M.jobs, job)
  local id = client.exec(command, args, function(err, result)
    job.done = true
    remove_job(job)
    M.last = job
    if err then
      job.error = err
      client.notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      job.result = result
      local text = result.text or ''
      local footer = job.footer and job.footer(result)
      if job.scratch and (text ~= job.streamed or footer) then
        -- The final text is authoritative (e.g. chunks were missed).
        set_buf_text(job.buf, footer and (text .. '\n\n' .. footer) or text)
      end
      local usage = result.usage or {}
      client.notify(string.format(
        '%s (%s, %s tokens out)%s',
        result.cancelled and 'generation cancelled' or 'generation done',
        result.model or '?',
        tostring(usage.outputTokens or '?'),
        result.finishReason and (' finish: ' .. tostring(result.finishReason)) or ''
      ))
    end
    if opts.on_done then
      opts.on_done(job)
    end
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudGenerateDone', modeline = false })
  end, opts.bufnr, job.token)
  job.request_id = id
  if not id then
    remove_job(job)
    return nil
  end
  return job
end

local PROSE_ACTIONS = { explain = true, ask = true }

--- Client-side handler of the code actions' command (vim.lsp.commands): runs it with
--- a work-done token so a prose answer (Explain, Ask, `insert = 'none'` templates)
--- streams into a scratch buffer; edit actions are applied by the server as one edit.
---@param command lsp.Command
---@param ctx { bufnr: integer }
function M.run_code_action(command, ctx)
  local data = (command.arguments or {})[1] or {}
  local prose = PROSE_ACTIONS[data.id] == true
  local index = tostring(data.id or ''):match('^user:(%d+)$')
  if index then
    local template = ((config.values.settings or {}).codeActions or {})[tonumber(index) + 1] or {}
    prose = (template.insert or 'none') == 'none'
  end
  return M.start('greycloud.runCodeAction', data, {
    bufnr = ctx.bufnr,
    title = command.title or 'Gemini',
    scratch = prose,
  })
end

--- Cancel the running generations (window/workDoneProgress/cancel on each job's token).
---@return integer count cancelled
function M.cancel()
  if #M.jobs == 0 then
    client.notify('nothing to cancel')
    return 0
  end
  local n = 0
  for _, job in ipairs(M.jobs) do
    local c = vim.lsp.get_client_by_id(job.client_id)
    if c then
      c:notify('window/workDoneProgress/cancel', { token = job.token })
      job.cancel_sent = true
      n = n + 1
    end
  end
  client.notify(string.format('cancel sent (%d)', n))
  return n
end

--- The server stopped: forget its generations.
function M.reset()
  for i = #M.jobs, 1, -1 do
    M.jobs[i] = nil
  end
end

return M
