-- Workspace caches: :GreyCloudCacheWorkspace, :GreyCloudCaches, and the cache
-- state shown by statusline components (driven by greycloud/cacheStatus).

local client = require('greycloud.client')
local config = require('greycloud.config')

local M = {}

---@class greycloud.CacheStatus
---@field name string
---@field stale boolean
---@field reason string
---@field deleted boolean
---@field expireTime? string ISO 8601, UTC
---@field tokens? integer
---@field folder? string filesystem path of the cached folder
---@field displayName? string
---@field seen integer order of arrival

--- Known caches of this server, by name (deleted and expired ones are removed).
---@type table<string, greycloud.CacheStatus>
M.statuses = {}
--- The last :GreyCloudCacheWorkspace result (or {error = ...}).
---@type table?
M.last = nil

local seen = 0

--- Seconds since the epoch of an RFC 3339 UTC time such as 2026-12-03T10:00:00.5Z.
---@param iso string
---@return integer?
function M.epoch(iso)
  local y, mo, d, h, mi, s = tostring(iso):match('^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)')
  if not y then
    return nil
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (Howard Hinnant), no dependency on the local time zone
  if mo <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

--- Handler of the `greycloud/cacheStatus` notification.
function M.on_cache_status(_, params)
  if type(params) ~= 'table' or not params.name then
    return
  end
  local before = M.statuses[params.name]
  if params.deleted then
    M.statuses[params.name] = nil
  else
    seen = seen + 1
    M.statuses[params.name] = vim.tbl_extend('force', params, { seen = before and before.seen or seen })
  end
  if params.stale and not (before and before.stale) and not params.deleted then
    client.notify(string.format('cache %s is stale: %s', params.displayName or params.name,
      params.reason or 'workspace changed'), vim.log.levels.WARN)
  end
  vim.cmd('redrawstatus')
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudCacheStatus', modeline = false, data = params })
end

--- The server is gone (stopped, restarted, its connection dropped): forget every cache
--- state, so no statusline keeps saying "cache fresh" for a cache the server held; a new
--- server reports its own caches with greycloud/cacheStatus. Fires User
--- GreyCloudCacheStatus with data `{ reset = true }`.
function M.reset()
  for name in pairs(M.statuses) do
    M.statuses[name] = nil
  end
  vim.schedule(function() -- on_exit may run in a fast event
    vim.cmd('redrawstatus')
    pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'GreyCloudCacheStatus', modeline = false, data = { reset = true } })
  end)
end

--- The newest known cache of `folder` (a path), fresh ones first.
---@param folder? string
---@return greycloud.CacheStatus?
function M.newest(folder)
  local best
  for _, s in pairs(M.statuses) do
    if folder == nil or s.folder == nil or s.folder == folder then
      local rank = (s.stale and 0 or 1e9) + s.seen
      if not best or rank > best.rank then
        best = { rank = rank, status = s }
      end
    end
  end
  return best and best.status
end

local function human(seconds)
  if seconds >= 3600 then
    return string.format('%dh%02dm', math.floor(seconds / 3600), math.floor(seconds % 3600 / 60))
  elseif seconds >= 60 then
    return string.format('%dm', math.floor(seconds / 60))
  end
  return string.format('%ds', seconds)
end

--- Statusline component: "cache fresh 59m", "cache stale 12m" or "" (no cache).
---@param bufnr? integer
---@return string
local real_roots = {} ---@type table<string, string>

--- A client's root as the server names folders (symlinks resolved), looked up once
--- per root: the statusline is drawn on every redraw.
---@param root string
---@return string
local function real_root(root)
  local real = real_roots[root]
  if not real then
    real = vim.fs.normalize(vim.uv.fs_realpath(root) or root)
    real_roots[root] = real
  end
  return real
end

function M.statusline(bufnr)
  local c = client.get(bufnr or vim.api.nvim_get_current_buf())
  local folder = c and c.root_dir and real_root(c.root_dir) or nil
  local s = M.newest(folder)
  if not s then
    return ''
  end
  local text = 'cache ' .. (s.stale and 'stale' or 'fresh')
  local expires = s.expireTime and M.epoch(s.expireTime)
  if expires then
    local left = expires - os.time()
    text = text .. ' ' .. (left > 0 and human(left) or 'expired')
  end
  return text
end

--- :GreyCloudCacheWorkspace: upload the workspace files into a context cache.
---@param args? table greycloud.cacheWorkspace arguments (folder defaults to the root)
---@param cb? fun(err: table?, result: table?)
function M.cache_workspace(args, cb)
  local c = client.require(0)
  if not c then
    return
  end
  args = args or {}
  args.folder = args.folder or client.folder_uri(c)
  client.notify('caching workspace files...')
  client.exec('greycloud.cacheWorkspace', args, function(err, res)
    if err then
      M.last = { error = err }
      client.notify('cache workspace failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
    else
      M.last = res
      client.notify(string.format(
        'cached %d file(s), %s tokens as %s (expires %s)%s',
        #(res.files or {}),
        tostring(res.tokens),
        res.name or '?',
        res.expireTime or '?',
        (res.skipped and #res.skipped > 0) and string.format('; skipped %d', #res.skipped) or ''
      ))
    end
    if cb then
      cb(err, res)
    end
  end, 0)
end

--- :GreyCloudCaches: pick a cache, then extend or delete it.
function M.caches()
  client.exec('greycloud.listCaches', vim.empty_dict(), function(err, list)
    if err then
      client.notify('list caches failed: ' .. (err.message or '?'), vim.log.levels.ERROR)
      return
    end
    if not list or #list == 0 then
      client.notify('no caches')
      return
    end
    vim.ui.select(list, {
      prompt = 'GreyCloud caches',
      format_item = function(c)
        return string.format('%s  %s tok  %s  expires %s%s%s', c.displayName or c.name, tostring(c.tokens),
          c.model or '', c.expireTime or '?', c.ownedByServer and '' or '  (not ours)', c.stale and '  STALE' or '')
      end,
    }, function(cache)
      if not cache then
        return
      end
      vim.ui.select({ 'Extend TTL', 'Delete' }, { prompt = cache.displayName or cache.name }, function(action)
        if action == 'Delete' then
          client.exec('greycloud.deleteCache', { name = cache.name }, function(e)
            if e then
              client.notify('delete failed: ' .. (e.message or '?'), vim.log.levels.ERROR)
            else
              client.notify('deleted ' .. cache.name)
            end
          end)
        elseif action == 'Extend TTL' then
          vim.ui.input({ prompt = 'TTL seconds: ', default = tostring(config.values.extend_ttl_seconds) }, function(ttl)
            ttl = tonumber(ttl)
            if not ttl then
              return
            end
            client.exec('greycloud.extendCache', { name = cache.name, ttlSeconds = ttl }, function(e, r)
              if e then
                client.notify('extend failed: ' .. (e.message or '?'), vim.log.levels.ERROR)
              else
                client.notify(string.format('%s now expires %s', r.name or cache.name, r.expireTime or '?'))
              end
            end)
          end)
        end
      end)
    end)
  end)
end

return M
