-- One of two headless Neovims sharing the greycloud-lsp daemon: attach, generate,
-- report (JSON to $GREYCLOUD_TEST_RESULT), then stay attached until
-- $GREYCLOUD_TEST_RELEASE exists, so the test sees both sessions at once.
local gc = require('greycloud')
local result_file = vim.env.GREYCLOUD_TEST_RESULT or error('GREYCLOUD_TEST_RESULT not set')
local release = vim.env.GREYCLOUD_TEST_RELEASE or error('GREYCLOUD_TEST_RELEASE not set')
local workspace = vim.env.GREYCLOUD_TEST_WORKSPACE or error('GREYCLOUD_TEST_WORKSPACE not set')
local TIMEOUT = 60000
local report = { pid = vim.fn.getpid(), failures = {} }

local function write_report()
  local f = assert(io.open(result_file, 'w'))
  f:write(vim.json.encode(report))
  f:close()
end

local function fail(what)
  table.insert(report.failures, what)
  write_report()
  vim.cmd('cquit 1')
end

vim.cmd('edit ' .. vim.fn.fnameescape(workspace .. '/notes.md'))
local buf = vim.api.nvim_get_current_buf()
if not vim.wait(TIMEOUT, function()
  local c = gc.client(buf)
  return c ~= nil and c.initialized == true
end, 50) then
  return fail('server attached')
end
report.server_cmd = gc.client(buf).config.cmd

local done, answer = false, nil
gc.exec('greycloud.generate', { prompt = 'Hello from ' .. report.pid .. ' [[words=6]]' }, function(err, result)
  answer = { err = err and err.message or nil, text = result and result.text or nil }
  done = true
end, buf)
if not vim.wait(TIMEOUT, function() return done end, 50) then
  return fail('generate answered')
end
report.generate = answer
if answer.err or not answer.text or answer.text == '' then
  return fail('generate succeeded: ' .. vim.inspect(answer))
end
write_report()
vim.wait(120000, function() return vim.uv.fs_stat(release) ~= nil end, 50)
vim.cmd('qall!')
