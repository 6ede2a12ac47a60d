-- Headless test of a minimal set-up: silent start, :GreyCloudAsk creates then
-- reuses a workspace cache, cache_statusline() follows fresh -> stale, and the
-- server's code actions are listed and applied through vim.lsp.buf.code_action.
local gc = require('greycloud')
local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local check, buf_text, report = harness.check, harness.buf_text, harness.report
local workspace, TIMEOUT = harness.workspace, harness.TIMEOUT

-- Every vim.notify, so warnings can be asserted on (headless :messages may miss some).
local notes = {}
local original_notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(notes, { msg = tostring(msg), level = level })
  return original_notify(msg, level, opts)
end

-- The person answers every vim.ui.select with its first choice, and records the prompts.
local prompts = {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(prompts, { prompt = opts.prompt, items = items })
  on_choice(items[1], 1)
end

local function emulator_requests()
  local lf = io.open(vim.env.GREYCLOUD_TEST_LOG_FILE or '', 'r')
  if not lf then
    return nil
  end
  local url = lf:read('*a'):match('embedded emulator at (http://127%.0%.0%.1:%d+/)')
  lf:close()
  if not url then
    return nil
  end
  local code = 'import sys,urllib.request as u; sys.stdout.write(u.urlopen(sys.argv[1] + "_emulator/requests", timeout=10).read().decode())'
  local r = vim.system({ vim.env.GREYCLOUD_TEST_PYTHON, '-c', code, url }):wait(15000)
  return r.code == 0 and vim.json.decode(r.stdout).requests or nil
end

-- typed: ask with no argument and type the question into vim.ui.input instead.
local function ask(question, typed)
  local before = gc.last.generate
  if typed then
    local ui_input, asked = vim.ui.input, nil
    vim.ui.input = function(o, on_confirm)
      asked = o.prompt
      on_confirm(question)
    end
    vim.cmd('GreyCloudAsk')
    vim.ui.input = ui_input
    check('an empty :GreyCloudAsk asks for the question', asked == 'Ask the workspace: ', asked)
  else
    vim.cmd('GreyCloudAsk ' .. question)
  end
  local done = vim.wait(TIMEOUT, function()
    return gc.last.generate ~= before and gc.last.generate ~= nil and gc.last.generate.done
  end, 20)
  local job = gc.last.generate
  check('ask answered: ' .. question, done and job and job.error == nil and job.result, job and (job.error or job.result))
  return job or {}
end

local function run()
  -- 1. A minimal set-up starts silently.
  local buf = harness.attach()
  if not buf then
    return
  end
  -- Wait until the server has pulled the settings and answered a request after that.
  vim.wait(TIMEOUT, function()
    return gc.statusline(buf) ~= ''
  end, 50)
  vim.wait(500)
  local warnings = vim.tbl_filter(function(n)
    return n.level == vim.log.levels.WARN or n.level == vim.log.levels.ERROR or n.msg:find('GreyCloud setting', 1, true)
  end, notes)
  local messages = vim.api.nvim_exec2('messages', { output = true }).output
  report.start_messages = messages
  check('minimal set-up starts silently', #warnings == 0 and not messages:find('expected an object', 1, true),
    { warnings = warnings, messages = messages })

  -- 2. :GreyCloudAsk with no cache: says what it will cache and what it costs, creates it, asks.
  local first = ask('What does big.txt describe? [[words=20]]')
  report.prompts = prompts
  local offer = prompts[1] or {}
  check('offered to create the cache with files, tokens and cost',
    offer.prompt and offer.prompt:match('^Cache %d+ files of workspace: %d+ tokens, about %$[%d.]+/hour') ~= nil,
    offer)
  local footer = buf_text(first.buf or 0)
  report.first_answer = footer
  check('answer says what caching saved', footer:find('Cached tokens: %d+ of %d+ prompt tokens') ~= nil
    and footer:find('with the cache vs %$[%d.]+ without') ~= nil, footer)
  check('result reports cached tokens', ((first.result or {}).usage or {}).cachedTokens > 0, first.result)
  check('progress and chunks used our workDoneToken', vim.startswith(first.token or '', 'greycloud-nvim-')
    and first.updates > 0, { token = first.token, updates = first.updates })

  -- 3. The second question reuses the cache: no new offer, no new creation.
  local second = ask('And what retried? [[words=20]]', true)
  check('second ask reused the cache without asking', #prompts == 1, prompts)
  check('both asks used one cache', first.result and second.result
    and first.result.cachedContent == second.result.cachedContent, { first.result, second.result })
  local requests = emulator_requests() or {}
  local creations, cached_questions = 0, 0
  for _, r in ipairs(requests) do
    if r.method == 'POST' and r.path:match('/cachedContents$') then
      creations = creations + 1
    end
    if r.action == 'streamGenerateContent' and type(r.body) == 'table' and r.body.cachedContent then
      cached_questions = cached_questions + 1
    end
  end
  report.emulator = { creations = creations, cached_questions = cached_questions, requests = #requests }
  check('emulator log: one cache creation, two questions with cachedContent',
    creations == 1 and cached_questions == 2, report.emulator)

  -- 4. cache_statusline(): fresh with time to expiry, then stale after a cached file is saved.
  local fresh = vim.wait(TIMEOUT, function()
    return gc.cache_statusline(buf):match('^cache fresh %d') ~= nil
  end, 50)
  report.cache_statusline_fresh = gc.cache_statusline(buf)
  check('cache_statusline shows fresh and time to expiry', fresh, report.cache_statusline_fresh)
  vim.cmd('edit ' .. vim.fn.fnameescape(workspace .. '/big.txt'))
  vim.api.nvim_buf_set_lines(0, 0, 0, false, { 'A new first line.' })
  vim.cmd('write')
  local stale = vim.wait(TIMEOUT, function()
    return gc.cache_statusline():match('^cache stale') ~= nil
  end, 50)
  report.cache_statusline_stale = gc.cache_statusline()
  check('cache_statusline shows stale after a save', stale, report.cache_statusline_stale)

  -- 5. Code actions through vim.lsp.buf.code_action.
  local path = workspace .. '/calc.py'
  local f = assert(io.open(path, 'w'))
  f:write('def add(a, b):\n    return a - b\n')
  f:close()
  vim.cmd('edit ' .. vim.fn.fnameescape(path))
  local cbuf = vim.api.nvim_get_current_buf()
  vim.wait(TIMEOUT, function()
    return gc.client(cbuf) ~= nil and vim.lsp.buf_is_attached(cbuf, gc.client(cbuf).id)
  end, 50)
  local listed = vim.lsp.buf_request_sync(cbuf, 'textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(cbuf) },
    range = { start = { line = 1, character = 0 }, ['end'] = { line = 1, character = 0 } },
    context = { diagnostics = {} },
  }, TIMEOUT) or {}
  local titles = {}
  for _, answer in pairs(listed) do
    for _, action in ipairs(answer.result or {}) do
      table.insert(titles, action.title)
    end
  end
  report.code_action_titles = titles
  check('code actions listed', vim.list_contains(titles, 'Gemini: Explain')
    and vim.list_contains(titles, 'Gemini: Improve / rewrite')
    and vim.list_contains(titles, 'Gemini: Add documentation'), titles)
  local original = buf_text(cbuf)
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      return action.title == 'Gemini: Improve / rewrite'
    end,
  })
  local changed = vim.wait(TIMEOUT, function()
    return buf_text(cbuf) ~= original
  end, 20)
  report.code_action_edited = buf_text(cbuf)
  check('code action applied its edit', changed and vim.startswith(report.code_action_edited, 'def add(a, b):\n'),
    report.code_action_edited)
  vim.cmd('silent undo')
  check('the edit undoes in one step', buf_text(cbuf) == original, buf_text(cbuf))

  -- 6. A prose action (Explain) streams into a scratch buffer instead of a message.
  check('the improve action finished', vim.wait(TIMEOUT, function()
    return #gc.jobs == 0
  end, 20), gc.jobs)
  local before = gc.last.generate
  local notes_before = #notes
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      return action.title == 'Gemini: Explain'
    end,
  })
  local explained = vim.wait(TIMEOUT, function()
    local job = gc.last.generate
    return job ~= nil and job ~= before and job.done
  end, 20)
  local job = gc.last.generate or {}
  local text = (job.result or {}).text or ''
  report.explain = { text = text, updates = job.updates, scratch = job.scratch }
  check('explain streamed into a scratch buffer', explained and job.scratch and job.updates > 0 and text ~= ''
    and job.buf ~= cbuf and buf_text(job.buf) == text and buf_text(cbuf) == original, report.explain)
  local shown = false
  for i = notes_before + 1, #notes do
    shown = shown or notes[i].msg:find(text, 1, true) ~= nil
  end
  check('explain answer not repeated as a message', not shown, notes)
end

harness.run(run)
