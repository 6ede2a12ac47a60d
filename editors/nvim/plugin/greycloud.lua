-- GreyCloud user commands. Call require('greycloud').setup{...} to start the server.
if vim.g.loaded_greycloud then
  return
end
vim.g.loaded_greycloud = 1

if vim.fn.has('nvim-0.11') ~= 1 then
  vim.notify('GreyCloud needs Neovim >= 0.11', vim.log.levels.ERROR)
  return
end

local function gc()
  return require('greycloud')
end

vim.api.nvim_create_user_command('GreyCloudGenerate', function(o)
  local opts = { prompt = o.args }
  if o.range > 0 then
    opts.range = { o.line1, o.line2 }
  end
  if o.bang then
    -- With !, the server edits the buffer: replaces the range, or inserts at the cursor.
    opts.insert = o.range > 0 and 'replace' or 'after'
  end
  gc().generate(opts)
end, {
  nargs = '*',
  range = true,
  bang = true,
  desc = 'GreyCloud: generate from a prompt (range: the selection is sent; !: edit the buffer; the file is sent only with generate.include_document)',
})

vim.api.nvim_create_user_command('GreyCloudGenerateFile', function(o)
  gc().generate({ prompt = o.args, include_document = true })
end, {
  nargs = '*',
  desc = 'GreyCloud: generate from a prompt, sending the whole current file with it',
})

vim.api.nvim_create_user_command('GreyCloudAsk', function(o)
  local opts = { question = o.args }
  if o.range > 0 then
    opts.range = { o.line1, o.line2 }
  end
  gc().ask(opts)
end, {
  nargs = '*',
  range = true,
  desc = 'GreyCloud: ask the cached workspace (creates or refreshes the cache after asking you)',
})

vim.api.nvim_create_user_command('GreyCloudCancel', function()
  gc().cancel()
end, { desc = 'GreyCloud: cancel the running generation' })

vim.api.nvim_create_user_command('GreyCloudCacheWorkspace', function()
  gc().cache_workspace()
end, { desc = 'GreyCloud: upload the workspace files into a context cache' })

vim.api.nvim_create_user_command('GreyCloudCaches', function()
  gc().caches()
end, { desc = 'GreyCloud: list context caches (delete / extend)' })

vim.api.nvim_create_user_command('GreyCloudTokens', function()
  gc().tokens(0)
end, { desc = 'GreyCloud: count the tokens of the current buffer' })
