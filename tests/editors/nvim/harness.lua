-- What the headless test drivers share: their environment, checks, the JSON report
-- written to $GREYCLOUD_TEST_RESULT, and the exit code (:cq when a check failed).
-- Loaded with dofile() next to the driver (the drivers are not on 'runtimepath').
local M = {}

M.result_file = vim.env.GREYCLOUD_TEST_RESULT or error('GREYCLOUD_TEST_RESULT not set')
M.workspace = vim.env.GREYCLOUD_TEST_WORKSPACE or error('GREYCLOUD_TEST_WORKSPACE not set')
M.TIMEOUT = tonumber(vim.env.GREYCLOUD_TEST_TIMEOUT_MS or '60000')
M.report = { checks = {}, failures = {} }

--- Record one check; returns ok.
function M.check(name, ok, detail)
  table.insert(M.report.checks, { name = name, ok = ok and true or false, detail = detail })
  if not ok then
    table.insert(M.report.failures, name .. ': ' .. vim.inspect(detail))
  end
  return ok
end

---@param buf integer
---@return string
function M.buf_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
end

--- Open the workspace's notes.md and wait for the greycloud client to initialise.
--- Returns the buffer and the client, or nil after a failed 'server attached' check.
---@return integer?, vim.lsp.Client?
function M.attach()
  local gc = require('greycloud')
  vim.cmd('edit ' .. vim.fn.fnameescape(M.workspace .. '/notes.md'))
  local buf = vim.api.nvim_get_current_buf()
  local attached = vim.wait(M.TIMEOUT, function()
    local c = gc.client(buf)
    return c ~= nil and c.initialized == true
  end, 50)
  if not M.check('server attached', attached, { clients = #vim.lsp.get_clients() }) then
    return nil, nil
  end
  return buf, gc.client(buf)
end

--- Run the driver's body, write the report and quit (non-zero when any check failed).
---@param body fun()
function M.run(body)
  local ok, err = xpcall(body, debug.traceback)
  if not ok then
    M.check('test script error', false, err)
  end
  M.report.messages = vim.api.nvim_exec2('messages', { output = true }).output
  local f = assert(io.open(M.result_file, 'w'))
  f:write(vim.json.encode(M.report))
  f:close()
  vim.cmd(#M.report.failures > 0 and 'cquit 1' or 'qall!')
end

return M
