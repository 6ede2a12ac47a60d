-- Minimal init for the headless Neovim test: loads editors/nvim and sets it up
-- against the server command given in $GREYCLOUD_TEST_SERVER_CMD (JSON list).
local plugin_dir = vim.env.GREYCLOUD_NVIM_PLUGIN or error("GREYCLOUD_NVIM_PLUGIN not set")
vim.opt.runtimepath:prepend(plugin_dir)
vim.opt.swapfile = false
vim.opt.shortmess:append('F')

local cmd = vim.json.decode(vim.env.GREYCLOUD_TEST_SERVER_CMD or error("GREYCLOUD_TEST_SERVER_CMD not set"))
require('greycloud').setup({
  cmd = cmd,
  emulator = true,
  log_file = vim.env.GREYCLOUD_TEST_LOG_FILE,
  log_level = 'DEBUG',
  settings = {
    tokenCount = { enabled = true, debounceMs = 150 },
  },
  open = 'vsplit',
})
-- The statusline a user would configure.
vim.o.laststatus = 2
vim.o.statusline = "%f %{v:lua.require'greycloud'.statusline()}"
