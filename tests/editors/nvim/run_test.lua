-- Headless end-to-end test of the GreyCloud Neovim plugin against the real
-- `greycloud-lsp --emulator`. Writes a JSON report to $GREYCLOUD_TEST_RESULT
-- and exits with :cq (non-zero) when any check fails.
local gc = require('greycloud')
local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local check, buf_text, report = harness.check, harness.buf_text, harness.report
local workspace, TIMEOUT = harness.workspace, harness.TIMEOUT

local function read_cmdline(pid)
  local f = io.open('/proc/' .. pid .. '/cmdline', 'rb')
  if not f then
    return nil
  end
  local s = f:read('*a')
  f:close()
  return (s:gsub('%z', ' '))
end

local function all_descendants(pid, acc)
  acc = acc or {}
  for _, child in ipairs(vim.api.nvim_get_proc_children(pid)) do
    table.insert(acc, child)
    all_descendants(child, acc)
  end
  return acc
end


local function run()
  -- 1. The plugin starts the server with --emulator on opening a file.
  local buf, client = harness.attach()
  if not client then
    return
  end
  report.server_cmd = client.config.cmd
  report.server_info = client.server_info
  check('cmd has --emulator', vim.list_contains(client.config.cmd, '--emulator'), client.config.cmd)
  local cmdlines = {}
  for _, pid in ipairs(all_descendants(vim.fn.getpid())) do
    table.insert(cmdlines, read_cmdline(pid))
  end
  report.child_cmdlines = cmdlines
  check('server process runs with --emulator', vim.iter(cmdlines):any(function(l)
    return l and l:find('--emulator', 1, true) ~= nil
  end), cmdlines)
  check('root dir is the workspace', client.root_dir == workspace, client.root_dir)

  -- 2. Statusline shows a token count, and it follows an edit.
  local got = vim.wait(TIMEOUT, function()
    return gc.statusline(buf) ~= ''
  end, 50)
  report.statusline_initial = gc.statusline(buf)
  check('statusline shows tokens after open', got and report.statusline_initial:match('^~?%d+ tok$'), report.statusline_initial)
  local before = (gc.counts[buf] or {}).tokens or 0
  local v_before = (gc.counts[buf] or {}).version or -1
  local extra = {}
  for i = 1, 40 do
    extra[i] = string.format('Added line %d: the quick brown fox jumps over the lazy dog again and again.', i)
  end
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, extra)
  local new_version = vim.lsp.util.buf_versions[buf]
  local updated = vim.wait(TIMEOUT, function()
    local c = gc.counts[buf]
    return c ~= nil and c.version ~= nil and c.version >= new_version and c.version > v_before and c.exact == true
  end, 50)
  local statusline_text = vim.api.nvim_eval_statusline(vim.o.statusline, { winid = vim.fn.bufwinid(buf) }).str
  report.statusline_after_edit = gc.statusline(buf)
  report.statusline_rendered = statusline_text
  report.count_after_edit = gc.counts[buf]
  check('token count updated after edit (exact)', updated and report.statusline_after_edit:match('^%d+ tok$'), gc.counts[buf])
  check('token count grew after edit', ((gc.counts[buf] or {}).tokens or 0) > before, { before = before, after = gc.counts[buf] })
  check('rendered statusline contains the count', statusline_text:find(report.statusline_after_edit, 1, true) ~= nil,
    statusline_text)

  -- 3. :GreyCloudGenerate streams into a scratch buffer, equal to the result.
  local progress_events = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      local v = ev.data.params.value or {}
      table.insert(progress_events, v.kind)
    end,
  })
  local snapshots = {}
  -- Without arguments it asks through vim.ui.input (what dressing.nvim & co. replace).
  local ui_input, asked = vim.ui.input, nil
  vim.ui.input = function(o, on_confirm)
    asked = o.prompt
    on_confirm('Write a haiku about token counts')
  end
  vim.cmd('GreyCloudGenerate')
  vim.ui.input = ui_input
  check('an empty :GreyCloudGenerate asks for the prompt', asked == 'GreyCloud prompt: ', asked)
  local job = gc.jobs[#gc.jobs]
  check('generate job started', job ~= nil and job.scratch, job)
  if job then
    local done = vim.wait(TIMEOUT, function()
      -- Record what the scratch buffer shows while the answer streams in.
      if not job.done and vim.api.nvim_buf_is_valid(job.buf) then
        local t = buf_text(job.buf)
        if t ~= '' and snapshots[#snapshots] ~= t then
          table.insert(snapshots, t)
        end
      end
      return job.done == true
    end, 10)
    check('generate finished', done, job)
    check('generate without error', job.error == nil, job.error)
    local res = job.result or {}
    report.generate = {
      result_text = res.text,
      streamed = job.streamed,
      buffer = vim.api.nvim_buf_is_valid(job.buf) and buf_text(job.buf) or nil,
      updates = job.updates,
      snapshots = #snapshots,
      token = job.token,
      model = res.model,
      finishReason = res.finishReason,
      progress_events = progress_events,
    }
    check('result has text', type(res.text) == 'string' and #res.text > 0, res)
    check('chunks streamed into the scratch buffer', job.updates >= 1, job.updates)
    check('streamed text equals result text', job.streamed == res.text, report.generate)
    check('scratch buffer text equals result text', report.generate.buffer == res.text, report.generate)
    check('scratch buffer is not the source buffer', job.buf ~= buf)
    check("generation used the plugin's workDoneToken", vim.startswith(job.token or '', 'greycloud-nvim-'), job.token)
    check('work-done progress seen', vim.list_contains(progress_events, 'begin') and vim.list_contains(progress_events, 'end'),
      progress_events)
  end

  -- 4. :GreyCloudTokens answers with a count.
  vim.api.nvim_set_current_buf(buf)
  gc.counts[buf].source = nil
  vim.cmd('GreyCloudTokens')
  check('GreyCloudTokens answered', vim.wait(TIMEOUT, function()
    return gc.counts[buf].source ~= nil
  end, 50), gc.counts[buf])

  -- 5. :GreyCloudCacheWorkspace reports the cache.
  vim.cmd('GreyCloudCacheWorkspace')
  local cached = vim.wait(TIMEOUT, function()
    return gc.last.cache ~= nil
  end, 50)
  local cache = gc.last.cache or {}
  report.cache = cache
  check('cache workspace answered', cached, cache)
  check('cache workspace succeeded', cache.error == nil and type(cache.name) == 'string' and cache.name ~= '', cache)
  check('cache lists the big file', vim.list_contains(cache.files or {}, 'big.txt'), cache.files)
  check('cache has tokens', type(cache.tokens) == 'number' and cache.tokens > 0, cache.tokens)
  local msgs = vim.api.nvim_exec2('messages', { output = true }).output
  check('cache reported to the user', cache.name ~= nil and msgs:find(cache.name, 1, true) ~= nil, msgs)

  -- 6. listCaches sees it (the data behind :GreyCloudCaches).
  local listed
  gc.exec('greycloud.listCaches', vim.empty_dict(), function(err, list)
    listed = { err = err, list = list }
  end)
  vim.wait(TIMEOUT, function()
    return listed ~= nil
  end, 50)
  report.caches = listed
  check('listCaches includes the new cache', listed and listed.list and vim.iter(listed.list):any(function(c)
    return c.name == cache.name
  end), listed)

  -- 7. :checkhealth greycloud reports command, version and connectivity.
  vim.cmd('checkhealth greycloud')
  local health = buf_text(vim.api.nvim_get_current_buf())
  report.health = health
  check('checkhealth: server command', health:find('server command:', 1, true) ~= nil, health)
  check('checkhealth: connectivity ok', health:find('connectivity: countTokens answered', 1, true) ~= nil, health)
  check('checkhealth: no errors', health:find('ERROR', 1, true) == nil, health)
  vim.cmd('close')

  -- 8. :GreyCloudCancel stops a running generation. The emulator is slowed down
  -- (its admin route, found through the server log) so the cancel lands mid-stream.
  local slowed = false
  local log_path = vim.env.GREYCLOUD_TEST_LOG_FILE
  local lf = log_path and io.open(log_path, 'r')
  if lf then
    local url = lf:read('*a'):match('embedded emulator at (http://127%.0%.0%.1:%d+/)')
    lf:close()
    local python = vim.env.GREYCLOUD_TEST_PYTHON
    if url and python then
      local code = 'import json,sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "_emulator/config", '
        .. 'data=json.dumps({"stream_chunk_delay": 0.25, "stream_chunk_tokens": 2}).encode(), '
        .. 'headers={"Content-Type": "application/json"}), timeout=10).read()'
      local r = vim.system({ python, '-c', code, url }):wait(15000)
      slowed = r.code == 0
      report.slow_down = { url = url, code = r.code, stderr = r.stderr }
    end
  end
  vim.api.nvim_set_current_buf(buf)
  vim.cmd('GreyCloudGenerate Write a very long essay about rate limiters, with many sections')
  local job2 = gc.jobs[#gc.jobs]
  if job2 then
    -- Cancel once the first words have arrived.
    vim.wait(TIMEOUT, function()
      return job2.updates > 0 or job2.done
    end, 5)
    local partial = job2.streamed
    local t_cancel = vim.uv.hrtime()
    vim.cmd('GreyCloudCancel')
    local done2 = vim.wait(TIMEOUT, function()
      return job2.done == true
    end, 10)
    local res2 = job2.result or {}
    report.cancel = {
      slowed = slowed,
      done = done2,
      cancelled = res2.cancelled,
      error = job2.error,
      ms_to_answer = (vim.uv.hrtime() - t_cancel) / 1e6,
      partial_at_cancel = partial,
      text = res2.text,
      token = job2.token,
    }
    check('cancelled generation answered', done2 and (job2.result ~= nil or job2.error ~= nil), report.cancel)
    if slowed then
      check('generation was cancelled', res2.cancelled == true, report.cancel)
      check('scratch buffer holds the partial text', type(res2.text) == 'string'
        and vim.startswith(res2.text, partial) and buf_text(job2.buf) == res2.text, report.cancel)
    end
  end
end

harness.run(run)
