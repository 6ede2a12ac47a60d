-- Options of the GreyCloud plugin: defaults, the values in force, and the
-- server settings sent to greycloud-lsp.

---@class greycloud.GenerateOptions
---@field include_document? boolean Send the whole current file with every :GreyCloudGenerate (default false; :GreyCloudGenerateFile always sends it)

---@class greycloud.AskOptions
---@field confirm? boolean Ask before creating or refreshing a workspace cache (default true)

---@class greycloud.CompletionKeys
---@field accept? string|false Accept the whole suggestion (default '<Tab>'; the key's own meaning when none shows)
---@field accept_word? string|false Accept the next word (default '<M-w>')
---@field accept_line? string|false Accept the rest of the line, or the next line (default '<M-l>')
---@field dismiss? string|false Hide the suggestion (default '<C-]>')

---@class greycloud.CompletionOptions
---@field enabled? boolean Ask for inline completions as you type (default true; toggle with require('greycloud').completion.toggle())
---@field keys? greycloud.CompletionKeys Insert-mode keys; false turns one off
---@field hl_group? string Highlight of the ghost text (default 'Comment')
---@field native? boolean Use Neovim's vim.lsp.inline_completion when it exists (0.12+; default true)

---@class greycloud.Options
---@field cmd? string|string[] Server command (default { 'greycloud-lsp' })
---@field emulator? boolean Append `--emulator`: a local Vertex AI emulator, no Google account
---@field log_file? string Append `--log-file PATH`
---@field log_level? 'DEBUG'|'INFO'|'WARNING'|'ERROR' Append `--log-level LEVEL`
---@field filetypes? string[] nil: every buffer that holds a file
---@field root_markers? string[] Files that mark the workspace root
---@field settings? table Server settings (section `greycloud`): projectId, model, tokenCount = {...}, cache = {...}, codeActions = {...}
---@field progress? boolean Echo generation progress in the message area
---@field open? 'vsplit'|'split'|'tab' Where the answer's scratch buffer opens
---@field extend_ttl_seconds? integer TTL offered when extending a cache from :GreyCloudCaches
---@field generate? greycloud.GenerateOptions
---@field ask? greycloud.AskOptions
---@field completion? greycloud.CompletionOptions Ghost text; server-side settings (model, debounceMs, ...) go in settings.completion

local M = {}

---@type greycloud.Options
M.defaults = {
  cmd = { 'greycloud-lsp' },
  emulator = false,
  log_file = nil,
  log_level = nil,
  filetypes = nil,
  root_markers = { '.git', 'pyproject.toml', 'package.json' },
  settings = {},
  progress = true,
  open = 'vsplit',
  extend_ttl_seconds = 3600,
  generate = { include_document = false },
  ask = { confirm = true },
  completion = {
    enabled = true,
    keys = { accept = '<Tab>', accept_word = '<M-w>', accept_line = '<M-l>', dismiss = '<C-]>' },
    hl_group = 'Comment',
    native = true,
  },
}

---@type greycloud.Options
M.values = vim.deepcopy(M.defaults)

--- Merge `opts` over the defaults (lists such as `cmd` are replaced, not merged).
---@param opts? greycloud.Options
---@return greycloud.Options
function M.set(opts)
  opts = opts or {}
  local values = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts[key] ~= nil then
      values[key] = opts[key]
    end
  end
  M.values = values
  return values
end

-- Server settings whose value is an object: an empty Lua table must go out as {} not [].
local OBJECT_KEYS = { tokenCount = true, cache = true, completion = true }

--- The `greycloud` settings section as JSON-ready data (empty tables become objects).
---@param settings? table
---@return table
function M.server_settings(settings)
  settings = vim.deepcopy(settings or M.values.settings or {})
  if vim.tbl_isempty(settings) then
    return vim.empty_dict()
  end
  for key in pairs(OBJECT_KEYS) do
    if type(settings[key]) == 'table' and vim.tbl_isempty(settings[key]) then
      settings[key] = vim.empty_dict()
    end
  end
  return settings
end

--- The command line used to start the server.
---@param cfg? greycloud.Options
---@return string[]
function M.server_cmd(cfg)
  cfg = cfg or M.values
  local cmd = vim.deepcopy(type(cfg.cmd) == 'string' and { cfg.cmd } or cfg.cmd)
  if cfg.emulator and not vim.list_contains(cmd, '--emulator') then
    table.insert(cmd, '--emulator')
  end
  if cfg.log_file then
    vim.list_extend(cmd, { '--log-file', cfg.log_file })
  end
  if cfg.log_level then
    vim.list_extend(cmd, { '--log-level', cfg.log_level })
  end
  return cmd
end

return M
