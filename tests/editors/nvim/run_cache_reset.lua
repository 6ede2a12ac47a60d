-- Headless test: the cache statusline forgets a cache when the server's connection drops
-- (here: the client is stopped, which ends the server process).
local gc = require('greycloud')
local harness = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'harness.lua'))
local check, report, TIMEOUT = harness.check, harness.report, harness.TIMEOUT

harness.run(function()
  local buf, c = harness.attach()
  if not buf or not c then
    return
  end
  local cache = require('greycloud.cache')
  local done = false
  cache.cache_workspace(nil, function()
    done = true
  end)
  vim.wait(TIMEOUT, function()
    return done
  end, 50)
  local fresh = vim.wait(TIMEOUT, function()
    return gc.cache_statusline(buf):match('^cache fresh') ~= nil
  end, 50)
  report.before = gc.cache_statusline(buf)
  check('the statusline shows the new cache', fresh, report.before)

  local resets = 0
  vim.api.nvim_create_autocmd('User', {
    pattern = 'GreyCloudCacheStatus',
    callback = function(ev)
      if ev.data and ev.data.reset then
        resets = resets + 1
      end
    end,
  })
  c:stop(true)
  local gone = vim.wait(TIMEOUT, function()
    return c:is_stopped() and resets > 0
  end, 50)
  report.after = gc.cache_statusline(buf)
  check('the connection dropped and the cache state was reset', gone, { resets = resets })
  check('the statusline no longer claims a cache', report.after == '', report.after)
end)
