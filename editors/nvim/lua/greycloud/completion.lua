-- Inline completions (ghost text) from greycloud-lsp's textDocument/inlineCompletion.
--
-- As you type in insert mode the plugin asks the server for a suggestion (the server
-- debounces, reuses a suggestion you are typing along with, and keeps completions in
-- their own lane of the quota) and shows it as extmarks: the first line inline at the
-- cursor, further lines below. Keys (insert mode, configurable in `completion.keys`):
-- accept all, accept a word, accept a line, dismiss. Each accept runs the item's
-- command, so the server counts shown and accepted suggestions.
--
-- On a Neovim that has `vim.lsp.inline_completion` (0.12+) the native implementation
-- is used instead (unless `completion.native = false`); the keys then call it.

local client = require('greycloud.client')
local config = require('greycloud.config')

local M = {}

local ns = vim.api.nvim_create_namespace('greycloud.completion')

--- The suggestion on screen, if any.
---@class greycloud.Suggestion
---@field buf integer
---@field row integer 0-based row of the cursor when it was shown
---@field col integer 0-based byte column of the cursor when it was shown
---@field text string what is left to insert at the cursor
---@field command? lsp.Command the item's accept command
---@field client_id integer

---@type greycloud.Suggestion?
M.current = nil
--- Whether completions are on (toggle()); starts from `completion.enabled`.
M.enabled = true
--- Counters for :checkhealth and tests.
M.stats = { requested = 0, shown = 0, accepted = 0, dismissed = 0 }

local pending = nil ---@type {client: vim.lsp.Client, id: integer}?
local suppress_next_change = false

local function native()
  return config.values.completion.native ~= false and vim.lsp.inline_completion ~= nil
end

--- Clear the ghost text (and forget the suggestion).
local function clear()
  if M.current and vim.api.nvim_buf_is_valid(M.current.buf) then
    vim.api.nvim_buf_clear_namespace(M.current.buf, ns, 0, -1)
  end
  M.current = nil
end

local function cancel_pending()
  if pending then
    pcall(pending.client.cancel_request, pending.client, pending.id)
    pending = nil
  end
end

local function render(s)
  vim.api.nvim_buf_clear_namespace(s.buf, ns, 0, -1)
  local lines = vim.split(s.text, '\n', { plain = true })
  local hl = config.values.completion.hl_group
  local opts = { virt_text_pos = 'inline', hl_mode = 'combine' }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], hl } }
  end
  if #lines > 1 then
    opts.virt_lines = vim.tbl_map(function(l)
      return { { l, hl } }
    end, vim.list_slice(lines, 2))
  end
  vim.api.nvim_buf_set_extmark(s.buf, ns, s.row, s.col, opts)
end

--- The part of an item to show at the cursor: its text minus what is already typed
--- inside its `range` (nil when the typed text does not match the item).
---@return string?
local function remainder(buf, item, row, col, encoding)
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  if not item.range then
    return text
  end
  local line = vim.api.nvim_buf_get_lines(buf, item.range.start.line, item.range.start.line + 1, false)[1] or ''
  local start = vim.str_byteindex(line, encoding, item.range.start.character, false)
  if item.range.start.line ~= row or start > col then
    return nil
  end
  local typed = line:sub(start + 1, col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  return text:sub(#typed + 1)
end

local function show(buf, c, row, col, result)
  local items = result and (result.items or result) or {}
  local item = items[1]
  if not item then
    return
  end
  local text = remainder(buf, item, row, col, c.offset_encoding)
  if not text or text == '' then
    return
  end
  M.current = { buf = buf, row = row, col = col, text = text, command = item.command, client_id = c.id }
  M.stats.shown = M.stats.shown + 1
  render(M.current)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudCompletionShown', modeline = false })
end

--- Ask the server for a suggestion at the cursor (insert mode).
---@param buf? integer
function M.request(buf)
  buf = client.buffer(buf)
  clear()
  cancel_pending()
  if not M.enabled or vim.fn.mode() ~= 'i' then
    return
  end
  local c = client.get(buf)
  if not c or not (c.server_capabilities or {}).inlineCompletionProvider then
    return
  end
  local win = vim.api.nvim_get_current_win()
  local params = vim.lsp.util.make_position_params(win, c.offset_encoding)
  params.context = { triggerKind = 2 } -- Automatic: as the user types
  local row, col = unpack(vim.api.nvim_win_get_cursor(win))
  row = row - 1
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  M.stats.requested = M.stats.requested + 1
  local ok, id = c:request('textDocument/inlineCompletion', params, function(err, result)
    if pending and pending.id == id then
      pending = nil
    end
    -- Show nothing for a position or a text the user has left.
    if err or not vim.api.nvim_buf_is_valid(buf) or vim.api.nvim_get_current_buf() ~= buf then
      return
    end
    local now_row, now_col = unpack(vim.api.nvim_win_get_cursor(0))
    if vim.fn.mode() ~= 'i' or now_row - 1 ~= row or now_col ~= col then
      return
    end
    if vim.api.nvim_buf_get_changedtick(buf) ~= tick then
      return
    end
    show(buf, c, row, col, result)
  end, buf)
  if ok then
    pending = { client = c, id = id }
  end
end

--- The suggestion, when it still stands at the cursor.
---@return greycloud.Suggestion?
local function at_cursor()
  local s = M.current
  if not s or vim.api.nvim_get_current_buf() ~= s.buf then
    return nil
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  if row - 1 ~= s.row or col ~= s.col then
    return nil
  end
  return s
end

--- Whether a suggestion is on screen at the cursor (the plugin's own ghost text).
---@return boolean
function M.visible()
  return at_cursor() ~= nil
end

--- How much of `text` one accept of `kind` takes.
---@param text string
---@param kind 'all'|'word'|'line'
---@return string
function M.part(text, kind)
  if kind == 'word' then
    return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
  elseif kind == 'line' then
    if text:sub(1, 1) == '\n' then
      return '\n' .. (text:match('^\n([^\n]*)') or '')
    end
    return text:match('^[^\n]*')
  end
  return text
end

local function run_command(s, kind)
  local c = vim.lsp.get_client_by_id(s.client_id)
  if not (c and s.command) then
    return
  end
  local command = vim.deepcopy(s.command)
  if type(command.arguments) == 'table' and type(command.arguments[1]) == 'table' then
    command.arguments[1].kind = kind
  end
  c:exec_cmd(command, { bufnr = s.buf })
end

--- Accept the suggestion, or part of it ('word', 'line'). Returns false when none shows.
---@param kind? 'all'|'word'|'line'
---@return boolean
function M.accept(kind)
  kind = kind or 'all'
  if native() then -- Neovim's own inline completion accepts whole items only
    return kind == 'all' and vim.lsp.inline_completion.get() == true
  end
  local s = at_cursor()
  if not s then
    return false
  end
  local part = M.part(s.text, kind)
  local lines = vim.split(part, '\n', { plain = true })
  suppress_next_change = true
  vim.api.nvim_buf_set_text(s.buf, s.row, s.col, s.row, s.col, lines)
  local end_row = s.row + #lines - 1
  local end_col = (#lines == 1 and s.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  M.stats.accepted = M.stats.accepted + 1
  local rest = s.text:sub(#part + 1)
  clear()
  if rest ~= '' then
    M.current = vim.tbl_extend('force', s, { row = end_row, col = end_col, text = rest })
    render(M.current)
  end
  run_command(s, kind)
  return true
end

--- Hide the suggestion until the text changes again. Returns false when none showed.
---@return boolean
function M.dismiss()
  cancel_pending()
  if not M.current then
    return false
  end
  M.stats.dismissed = M.stats.dismissed + 1
  clear()
  return true
end

--- Turn completions on or off (for every buffer); returns the new state.
---@return boolean
function M.toggle()
  M.enabled = not M.enabled
  if native() then
    vim.lsp.inline_completion.enable(M.enabled)
  elseif not M.enabled then
    M.dismiss()
  end
  client.notify('inline completions ' .. (M.enabled and 'on' or 'off'))
  return M.enabled
end

local function on_text_changed(ev)
  if suppress_next_change then
    suppress_next_change = false
    return
  end
  M.request(ev.buf)
end

local function on_cursor_moved()
  if M.current and not at_cursor() then
    clear()
  end
end

--- Map one insert-mode key: run `action` when a suggestion shows, else the key itself.
local function map(lhs, desc, action)
  if not lhs or lhs == '' then
    return
  end
  vim.keymap.set('i', lhs, function()
    local done
    if action == 'dismiss' then
      done = M.dismiss()
    else
      done = M.accept(action)
    end
    if not done then
      vim.api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
    end
  end, { desc = desc })
end

--- Set up autocommands and keys (called by setup()).
---@param group integer augroup
function M.setup(group)
  local opts = config.values.completion
  M.enabled = opts.enabled ~= false
  if native() then
    vim.lsp.inline_completion.enable(M.enabled)
  else
    vim.api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP' }, { group = group, callback = on_text_changed })
    vim.api.nvim_create_autocmd('CursorMovedI', { group = group, callback = on_cursor_moved })
    vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
      group = group,
      callback = function()
        cancel_pending()
        clear()
      end,
    })
  end
  local keys = opts.keys or {}
  map(keys.accept, 'GreyCloud: accept the suggestion', 'all')
  map(keys.accept_word, 'GreyCloud: accept a word of the suggestion', 'word')
  map(keys.accept_line, 'GreyCloud: accept a line of the suggestion', 'line')
  map(keys.dismiss, 'GreyCloud: dismiss the suggestion', 'dismiss')
end

return M
