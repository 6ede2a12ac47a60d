-- :checkhealth greycloud
local M = {}

function M.check()
  local health = vim.health
  local gc = require('greycloud')
  health.start('greycloud')

  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim >= 0.11 is required')
  end
  if not gc._setup_done then
    health.warn("require('greycloud').setup{} has not been called", { 'Call it from your init.lua' })
  end

  local cmd = gc.server_cmd()
  local exe = vim.fn.exepath(cmd[1])
  if exe == '' then
    health.error('server command not found: ' .. cmd[1], {
      'pip install -e . in a clone of the GreyCloud repository (gives the greycloud-lsp command)',
      "or setup{ cmd = { '/path/to/python', '-m', 'greycloud_lsp' } }",
    })
  else
    health.ok('server command: ' .. table.concat(cmd, ' ') .. ' (' .. exe .. ')')
  end
  health.info('emulator: ' .. (gc.config.emulator and 'on (--emulator, no Google account used)' or 'off'))

  local client = gc.client()
  if not client then
    health.warn('no greycloud-lsp client is running', { 'Open a file after setup(), then run :checkhealth greycloud again' })
    return
  end
  local info = client.server_info or {}
  health.ok(string.format('server: %s %s (client id %d, root %s)', info.name or '?', info.version or '?', client.id,
    client.root_dir or '-'))
  if (client.server_capabilities or {}).codeActionProvider then
    health.ok('code actions: offered (vim.lsp.buf.code_action())')
  else
    health.warn('code actions: the server does not offer them', { 'Upgrade GreyCloud (git pull, then pip install -e . in its clone)' })
  end
  local comp = gc.completion
  local keys = gc.config.completion.keys or {}
  local shown = string.format('accept %s, word %s, line %s, dismiss %s', tostring(keys.accept), tostring(keys.accept_word),
    tostring(keys.accept_line), tostring(keys.dismiss))
  if not (client.server_capabilities or {}).inlineCompletionProvider then
    health.warn('inline completions: the server does not offer them', { 'Upgrade greycloud-lsp' })
  elseif not comp.enabled then
    health.info("inline completions: off (require('greycloud').completion.toggle() turns them on)")
  elseif gc.config.completion.native ~= false and vim.lsp.inline_completion then
    health.ok("inline completions: on, Neovim's vim.lsp.inline_completion (" .. shown .. ')')
  else
    health.ok('inline completions: on, ghost text as extmarks (' .. shown .. ')')
  end
  local t0 = vim.uv.hrtime()
  local res, err = client:request_sync('workspace/executeCommand', {
    command = 'greycloud.countTokens',
    arguments = { { text = 'ping' } },
  }, 5000)
  local ms = (vim.uv.hrtime() - t0) / 1e6
  if res and not res.err then
    health.ok(string.format('connectivity: countTokens answered in %.0f ms (%s)', ms, (res.result or {}).source or '?'))
  else
    local msg = err or (res and res.err and res.err.message) or 'no answer'
    health.error('connectivity: ' .. tostring(msg))
  end
end

return M
