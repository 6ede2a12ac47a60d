-- A newcomer's set-up: the plugin with `emulator = true` and NO `settings`
-- (only the test's server command and a log file to find the emulator).
local plugin_dir = vim.env.GREYCLOUD_NVIM_PLUGIN or error("GREYCLOUD_NVIM_PLUGIN not set")
vim.opt.runtimepath:prepend(plugin_dir)
vim.opt.swapfile = false
vim.opt.shortmess:append('F')

require('greycloud').setup({
  cmd = vim.json.decode(vim.env.GREYCLOUD_TEST_SERVER_CMD or error("GREYCLOUD_TEST_SERVER_CMD not set")),
  emulator = true,
  log_file = vim.env.GREYCLOUD_TEST_LOG_FILE,
})
vim.o.laststatus = 2
vim.o.statusline = "%f %{v:lua.require'greycloud'.statusline()} %{v:lua.require'greycloud'.cache_statusline()}"
