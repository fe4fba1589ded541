# Writes OUT: the version and the git commit of SOURCE_DIR (when it is a git checkout with git on
# PATH), run at every build so the commit is never stale; the file is rewritten only when it
# changes, so nothing relinks after a build with no new commit.
set(commit "")
find_program(GIT git)
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT} -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(commit "")
  endif()
  if(commit)
    execute_process(COMMAND ${GIT} -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(dirty)
      set(commit "${commit}+changes")
    endif()
  endif()
endif()
set(text "// Generated at build time by cmake/version_info.cmake: do not edit.\n#include \"common/util/version.h\"\nnamespace ps {\nconst char* const kVersion = \"${VERSION}\";\nconst char* const kGitCommit = \"${commit}\";\n}  // namespace ps\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
