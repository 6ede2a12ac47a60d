-- Inline completions in a real headless Neovim: type in insert mode (nvim_input, key by
-- key, the main loop running in between), see ghost text, type along with it, accept a
-- word, accept all, dismiss, fall back to a plain <Tab>, toggle off. Writes the JSON report.
local gc = require('greycloud')
local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local check, report, workspace = harness.check, harness.report, harness.workspace

local function line()
  return vim.api.nvim_get_current_line()
end

local function ghost_marks(buf)
  local ns = vim.api.nvim_get_namespaces()['greycloud.completion']
  return ns and vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true }) or {}
end

local function server_stats(buf)
  local c = gc.client(buf)
  local res = c and c:request_sync('workspace/executeCommand', {
    command = 'greycloud.completionStats',
    arguments = { vim.empty_dict() },
  }, 10000)
  return res and res.result or {}
end

harness.run_async(function()
  local _, client = harness.attach()
  if not client then
    return
  end
  vim.cmd('edit ' .. vim.fn.fnameescape(workspace .. '/completion_demo.py'))
  local buf = vim.api.nvim_get_current_buf()
  check('client attached to the Python file', harness.wait_for(function()
    return vim.lsp.buf_is_attached(buf, client.id)
  end), buf)
  check('server offers inline completions', (client.server_capabilities or {}).inlineCompletionProvider ~= nil,
    client.server_capabilities)

  vim.cmd('checkhealth greycloud')
  local health = ''
  harness.wait_for(function()
    health = harness.buf_text(vim.api.nvim_get_current_buf())
    return health:find('connectivity', 1, true) ~= nil
  end, 20000)
  report.health = health
  check(':checkhealth reports inline completions', health:find('inline completions: on', 1, true) ~= nil, health)
  vim.cmd('edit ' .. vim.fn.fnameescape(workspace .. '/completion_demo.py'))

  -- 1. Type a new function at the end of the file: ghost text appears at the cursor.
  vim.api.nvim_input('Go')
  harness.type('def multiply(a, b):')
  vim.api.nvim_input('<CR>')
  harness.type('return a')
  local shown = harness.wait_for(gc.completion.visible, 30000)
  check('ghost text shown while typing', shown, { line = line(), stats = gc.completion.stats })
  if not shown then
    return
  end
  local ghost = gc.completion.current.text
  report.ghost = ghost
  check('no markdown fence in the suggestion', not ghost:find('```', 1, true), ghost)
  local marks = ghost_marks(buf)
  check('one extmark holds the ghost text', #marks == 1, marks)
  local details = (marks[1] or {})[4] or {}
  local first_line = vim.split(ghost, '\n', { plain = true })[1]
  if first_line ~= '' then
    check('inline virtual text is the first line', details.virt_text and details.virt_text[1][1] == first_line, details)
  end
  if ghost:find('\n', 1, true) then
    check('further lines shown below as virtual lines', details.virt_lines and #details.virt_lines >= 1, details)
  end
  local asked_before = server_stats(buf)
  report.stats_after_first = asked_before

  -- 2. Type the suggestion's first character: it still shows, minus that character,
  --    answered from the last suggestion (the server makes no new upstream request).
  local next_char = ghost:sub(1, 1)
  if next_char:match('[%w_ ]') then
    harness.type(next_char)
    local kept = harness.wait_for(function()
      return gc.completion.visible() and gc.completion.current.text == ghost:sub(2)
    end, 15000)
    check('typing along keeps the rest of the suggestion', kept,
      { ghost = ghost, now = gc.completion.current and gc.completion.current.text })
    local stats = server_stats(buf)
    report.stats_after_typeahead = stats
    check('typed-ahead answered without an upstream request', (stats.upstream or -1) == (asked_before.upstream or -2)
      and (stats.reused or 0) > (asked_before.reused or 0), { before = asked_before, after = stats })
    ghost = ghost:sub(2)
  end

  -- 3. Accept one word with <M-w>: that word is inserted, the rest still shows.
  local before = line()
  local word = gc.completion.part(ghost, 'word')
  vim.api.nvim_input('<M-w>')
  harness.sleep(200)
  check('<M-w> inserts one word', line() == before .. vim.split(word, '\n', { plain = true })[1],
    { before = before, word = word, after = line() })
  local rest = ghost:sub(#word + 1)
  if rest ~= '' then
    check('the rest of the suggestion still shows', gc.completion.visible() and gc.completion.current.text == rest,
      { rest = rest, now = gc.completion.current and gc.completion.current.text })
  end

  -- 4. <Tab> accepts the rest.
  if gc.completion.visible() then
    local row = vim.api.nvim_win_get_cursor(0)[1]
    local text_before = table.concat(vim.api.nvim_buf_get_lines(buf, row - 1, row, false), '\n')
    vim.api.nvim_input('<Tab>')
    harness.sleep(300)
    local after = harness.buf_text(buf)
    check('<Tab> inserts the whole suggestion', after:find(text_before .. rest, 1, true) ~= nil,
      { expected = text_before .. rest, buffer = after })
  end
  harness.sleep(300)
  local stats = server_stats(buf)
  report.stats_after_accept = stats
  check('the server counted the accepts', (stats.accepted or 0) >= 2 and (stats.shown or 0) >= 1, stats)

  -- 5. <C-]> dismisses; a <Tab> with nothing shown is a plain tab.
  vim.api.nvim_input('<Esc>o')
  harness.type('total = multiply(')
  check('a new suggestion shows', harness.wait_for(gc.completion.visible, 30000), line())
  local typed = line()
  vim.api.nvim_input('<C-]>')
  harness.sleep(200)
  check('<C-]> hides the suggestion', not gc.completion.visible() and #ghost_marks(buf) == 0, ghost_marks(buf))
  check('dismissing changes no text', line() == typed, { typed = typed, now = line() })
  vim.api.nvim_input('<Tab>')
  harness.sleep(200)
  -- (a tab or, with the Python ftplugin's expandtab, spaces)
  check('<Tab> without a suggestion inserts a tab', line():match('^' .. vim.pesc(typed) .. '%s+$') ~= nil,
    { typed = typed, now = line() })

  -- 6. toggle() turns them off: typing asks nothing.
  check('toggle() turns completions off', gc.completion.toggle() == false)
  local requested = gc.completion.stats.requested
  harness.type('1, 2')
  harness.sleep(1500)
  check('no request and no ghost text while off', gc.completion.stats.requested == requested
    and not gc.completion.visible(), gc.completion.stats)
  vim.api.nvim_input('<Esc>')
  harness.sleep(100)
  report.buffer = harness.buf_text(buf)
  report.client_stats = gc.completion.stats
end)
