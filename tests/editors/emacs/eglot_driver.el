;;; eglot_driver.el --- drive eglot + the README's GreyCloud snippet in batch mode -*- lexical-binding: t -*-

;; Run by tests/editors/test_emacs_eglot.py:
;;   emacs -Q --batch -l eglot_driver.el
;; Environment: GREYCLOUD_TEST_SNIPPET (the README's elisp block, as a file),
;; GREYCLOUD_TEST_SERVER_CMD (JSON list: the greycloud-lsp command without arguments),
;; GREYCLOUD_TEST_FILE (a .py file inside a workspace), GREYCLOUD_TEST_RESULT (JSON out),
;; GREYCLOUD_TEST_ELPA (Debian's elpa directory).
;; Every step is recorded in the report; a failed step stops the run.

(require 'cl-lib)
(require 'json)
(require 'package)

(defvar greycloud-test-report nil "Alist written as JSON at the end.")
(defvar greycloud-test-messages nil "Every message shown (echo area), oldest first.")

(defun greycloud-test-note (key value)
  (setq greycloud-test-report (cons (cons key value) (assq-delete-all key greycloud-test-report))))

(defun greycloud-test-write ()
  (with-temp-file (getenv "GREYCLOUD_TEST_RESULT")
    (insert (json-encode (cons (cons 'messages (vconcat (reverse greycloud-test-messages)))
                               greycloud-test-report)))))

(advice-add 'message :after
            (lambda (format-string &rest args)
              (when format-string
                (push (apply #'format-message format-string args) greycloud-test-messages))))

(defvar greycloud-test-confirmations nil "The y-or-n-p questions, answered yes.")
;; eglot asks before applying a server's edit (eglot-confirm-server-initiated-edits): the
;; person says yes.
(advice-add 'y-or-n-p :override
            (lambda (prompt) (push prompt greycloud-test-confirmations) t))

(defun greycloud-test-wait (what predicate seconds)
  "Pump process output until PREDICATE is non-nil (its value), or fail naming WHAT."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless value
      (error "Timed out after %ss waiting for %s" seconds what))
    value))

(condition-case err
    (progn
      ;; emacs -Q skips Debian's site-start, which puts elpa-eglot on the load path.
      (unless (locate-library "eglot")
        (add-to-list 'package-directory-list (getenv "GREYCLOUD_TEST_ELPA"))
        (package-initialize))
      (require 'eglot)
      (greycloud-test-note 'emacs emacs-version)
      (greycloud-test-note 'eglot (or (and (boundp 'eglot-version) eglot-version)
                                      (let ((lib (locate-library "eglot"))) lib)))
      (load (getenv "GREYCLOUD_TEST_SNIPPET") nil t)
      ;; The snippet starts "greycloud-lsp"; run the one under test (same arguments).
      (let ((entry (cl-find-if (lambda (e) (equal (car-safe (cdr e)) "greycloud-lsp"))
                               eglot-server-programs)))
        (unless entry (error "The snippet added no greycloud-lsp entry"))
        (greycloud-test-note 'server_args (vconcat (cddr entry)))
        (setcdr entry (append (json-read-from-string (getenv "GREYCLOUD_TEST_SERVER_CMD"))
                              (cddr entry))))
      (find-file (getenv "GREYCLOUD_TEST_FILE"))
      (apply #'eglot--connect (eglot--guess-contact))
      (let ((server (greycloud-test-wait "eglot to connect" #'eglot-current-server 60)))
        (greycloud-test-note 'connected (jsonrpc-name server)))
      (greycloud-test-wait "eglot to manage the buffer" (lambda () eglot--managed-mode) 30)

      ;; The live token count, shown in the mode line by the snippet.
      (greycloud-test-wait "an exact token count"
                           (lambda () (and greycloud-tokens
                                           (not (string-prefix-p "~" greycloud-tokens))))
                           60)
      (greycloud-test-note 'tokens greycloud-tokens)
      ;; format-mode-line renders nothing in batch mode: check the construct the mode
      ;; line shows instead (mode-line-format includes mode-line-misc-info).
      (greycloud-test-note 'mode_line_entry
                           (format "%S" (cl-find-if (lambda (e) (eq (car-safe e) 'greycloud-tokens))
                                                    mode-line-misc-info)))
      (greycloud-test-note 'misc_info_in_mode_line
                           (and (memq 'mode-line-misc-info (flatten-tree mode-line-format)) t))

      ;; Code actions on a selection: lines 1-2 (def add ... return a - b).
      (let* ((beg (progn (goto-char (point-min)) (point)))
             (end (progn (forward-line 2) (point)))
             (before (buffer-string))
             (actions (eglot-code-actions beg end nil nil))
             (titles (mapcar (lambda (a) (plist-get a :title)) actions))
             (chosen (cl-find "Gemini: Add documentation" actions
                              :key (lambda (a) (plist-get a :title)) :test #'equal))
             (command (or (plist-get chosen :command) (error "no command on %S" chosen)))
             (started (float-time)))
        (greycloud-test-note 'actions (vconcat titles))
        ;; What eglot does when the person picks the action.
        (let ((answer (eglot-execute-command (eglot-current-server)
                                             (intern (plist-get command :command))
                                             (plist-get command :arguments))))
          (greycloud-test-note 'answer_seconds (- (float-time) started))
          (greycloud-test-note 'answer answer))
        (greycloud-test-wait "the action's edit" (lambda () (not (equal (buffer-string) before))) 90)
        (greycloud-test-note 'edit_seconds (- (float-time) started))
        (greycloud-test-note 'after_action (buffer-string))
        (greycloud-test-note 'still_there (and (string-search "print(add(1, 2))" (buffer-string)) t)))

      ;; A prose action: the answer comes as window/showMessage (echo area, *Messages*).
      (let* ((actions (eglot-code-actions (point-min) (point-max) nil nil))
             (explain (cl-find "Gemini: Explain" actions
                               :key (lambda (a) (plist-get a :title)) :test #'equal))
             (command (plist-get explain :command))
             (before (buffer-string)))
        (greycloud-test-note 'explain_answer
                             (eglot-execute-command (eglot-current-server)
                                                    (intern (plist-get command :command))
                                                    (plist-get command :arguments)))
        (greycloud-test-note
         'explained
         (greycloud-test-wait "Explain's answer in the echo area"
                              (lambda () (cl-find-if (lambda (m) (string-match-p "Server reports (type=3): Echo:" m))
                                                     greycloud-test-messages))
                              90))
        (greycloud-test-note 'explain_left_buffer_alone (equal before (buffer-string))))

      ;; The snippet's own command: the answer is inserted after point.
      (goto-char (point-max))
      (let ((before (buffer-string)))
        (greycloud-generate "Say something [[words=6]]")
        (greycloud-test-wait "greycloud-generate's edit"
                             (lambda () (not (equal (buffer-string) before))) 90)
        (greycloud-test-note 'generated (substring (buffer-string) (length before))))
      (greycloud-test-note 'ok t))
  (error
   (greycloud-test-note 'error (error-message-string err))))

(ignore-errors (let ((server (eglot-current-server)))
                 (when server (eglot-shutdown server nil 10))))
(greycloud-test-note 'confirmations (vconcat (reverse greycloud-test-confirmations)))
(greycloud-test-write)
(kill-emacs 0)
;;; eglot_driver.el ends here
