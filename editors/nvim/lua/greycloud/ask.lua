-- :GreyCloudAsk: ask the cached workspace. Uses the newest fresh cache of the
-- workspace folder; with none, says what it will cache and what that costs, and
-- creates it; with a stale one, offers to refresh it or to ask the stale one.

local cache = require('greycloud.cache')
local client = require('greycloud.client')
local config = require('greycloud.config')
local generate = require('greycloud.generate')

local M = {}

local function dollars(x)
  return string.format('$%.6f', tonumber(x) or 0)
end

--- The footer under an answer: what the cache saved on this question.
---@param result table greycloud.generate result
---@return string?
function M.saving_text(result)
  local cost = result.cost
  if type(cost) ~= 'table' then
    return nil
  end
  return table.concat({
    '---',
    string.format('Cached tokens: %d of %d prompt tokens%s.', cost.cachedTokens or 0, cost.promptTokens or 0,
      result.cacheStale and ' (from a STALE cache)' or ''),
    string.format('Estimated input cost: %s with the cache vs %s without (%.0f%% saved, %s).',
      dollars(cost.inputCostWithCache), dollars(cost.inputCostWithoutCache), cost.savingPercent or 0, cost.model or '?'),
  }, '\n')
end

--- Ask `choices` (strings) unless confirmation is off; cb(index or nil).
local function choose(prompt, choices, cb)
  if not config.values.ask.confirm then
    cb(1)
    return
  end
  vim.ui.select(choices, { prompt = prompt }, function(_, index)
    cb(index)
  end)
end

local function plan_text(plan)
  return string.format('Cache %d files of %s: %d tokens, about %s/hour of storage (%s, TTL %ds)?',
    #(plan.files or {}), vim.fn.fnamemodify(plan.folder or '', ':t'), plan.tokens or 0,
    dollars(plan.storageCostPerHour), plan.model or '?', plan.ttlSeconds or 0)
end

---@class greycloud.AskRequest
---@field question? string asked for when empty
---@field range? integer[] the selection (1-based lines): goes with the question
---@field bufnr? integer
---@field on_done? fun(job: greycloud.Job)

--- Ask the workspace; the answer streams into a scratch buffer, followed by what caching saved.
---@param opts? greycloud.AskRequest
function M.ask(opts)
  opts = opts or {}
  local bufnr = client.buffer(opts.bufnr)
  opts = vim.tbl_extend('force', opts, { bufnr = bufnr })
  if client.ask_for(opts, 'question', 'Ask the workspace: ', M.ask) then
    return
  end
  local c = client.require(bufnr)
  if not c then
    return
  end
  local folder = client.folder_uri(c)

  local function send(cache_name)
    return generate.generate({
      prompt = opts.question,
      range = opts.range,
      bufnr = bufnr,
      extra = { cachedContent = cache_name },
      footer = M.saving_text,
      on_done = opts.on_done,
    })
  end

  local function create_then_send(refresh)
    cache.cache_workspace({ folder = folder, refresh = refresh or nil }, function(err, res)
      if not err and res and res.name then
        send(res.name)
      end
    end)
  end

  local function offer_new_cache()
    client.exec('greycloud.cacheWorkspace', { folder = folder, dryRun = true }, function(err, plan)
      if err then
        client.notify('cannot plan the workspace cache: ' .. (err.message or '?'), vim.log.levels.ERROR)
        return
      end
      if not plan.cacheable then
        client.notify(string.format(
          'the workspace is too small to cache (%d tokens; %s needs %d): use :GreyCloudGenerateFile instead',
          plan.tokens or 0, plan.model or '?', plan.minimumTokens or 0), vim.log.levels.WARN)
        return
      end
      choose(plan_text(plan), { 'Create the cache and ask', 'Cancel' }, function(index)
        if index == 1 then
          create_then_send(false)
        end
      end)
    end, bufnr)
  end

  client.exec('greycloud.workspaceCacheState', { folder = folder }, function(err, state)
    if err then
      client.notify('workspace cache state: ' .. (err.message or '?'), vim.log.levels.ERROR)
      return
    end
    if state.state == 'fresh' then
      send(state.cache.name)
    elseif state.state == 'stale' then
      local why = state.cache.staleReason ~= '' and state.cache.staleReason or 'files changed'
      choose('The workspace cache is stale (' .. why .. ')',
        { 'Refresh the cache, then ask', 'Ask the stale cache', 'Cancel' }, function(index)
          if index == 1 then
            create_then_send(true)
          elseif index == 2 then
            send(state.cache.name)
          end
        end)
    else
      offer_new_cache()
    end
  end, bufnr)
end

return M
