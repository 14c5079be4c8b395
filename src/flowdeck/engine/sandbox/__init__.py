"""Script isolation: bubblewrap namespaces, Landlock as the fallback, or (opted out) none.

`select.select_sandbox` probes once per policy and says why a backend is unavailable;
`runner.run_script` runs one script under the chosen backend with limits over its whole
process tree. This package stays import-light: the Landlock supervisor starts from it.
"""
