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
  M.finish()
end

--- Write the report and quit (non-zero when any check failed).
function M.finish()
  M.report.messages = vim.api.nvim_exec2('messages', { output = true }).output
  local f = assert(io.open(M.result_file, 'w'))
  f:write(vim.json.encode(M.report))
  f:close()
  vim.cmd(#M.report.failures > 0 and 'cquit 1' or 'qall!')
end

--- Run the driver's body as a coroutine that gives the main loop back while it waits, so
--- that keys sent with nvim_input() are typed as a user types them (insert-mode
--- autocommands and mappings run). Inside the body use M.sleep and M.wait_for.
---@param body fun()
function M.run_async(body)
  local co = coroutine.create(function()
    local ok, err = xpcall(body, debug.traceback)
    if not ok then
      M.check('test script error', false, err)
    end
  end)
  M._resume = function()
    local ok, err = coroutine.resume(co)
    if not ok then
      M.check('test script error', false, err)
    end
    if coroutine.status(co) == 'dead' then
      M.finish()
    end
  end
  vim.schedule(M._resume)
end

--- In run_async: give the main loop `ms` milliseconds (typed keys are processed).
---@param ms integer
function M.sleep(ms)
  vim.defer_fn(M._resume, ms)
  coroutine.yield()
end

--- In run_async: wait until `cond()` is truthy (checked every 20 ms) or `timeout` ms pass.
---@return boolean
function M.wait_for(cond, timeout)
  local deadline = vim.uv.now() + (timeout or M.TIMEOUT)
  while vim.uv.now() < deadline do
    if cond() then
      return true
    end
    M.sleep(20)
  end
  return cond() and true or false
end

--- In run_async: type `text` key by key, `delay` ms apart, as a person types.
---@param text string keys in nvim_input() notation
---@param delay? integer
function M.type(text, delay)
  for _, key in ipairs(vim.split(text, '')) do
    vim.api.nvim_input(key == '<' and '<lt>' or key)
    M.sleep(delay or 40)
  end
end

return M
