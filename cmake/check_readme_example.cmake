# Checks that README.md shows EXAMPLE verbatim: the ```cpp block after the line
# `<!-- example: examples/consumer/example.cpp -->` (ctest script).
# -DREADME=<README.md> -DEXAMPLE=<example.cpp>
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
set(marker "<!-- example: examples/consumer/example.cpp -->\n```cpp\n")
string(FIND "${readme}" "${marker}" start)
if(start EQUAL -1)
    message(FATAL_ERROR "README.md has no `${marker}` block")
endif()
string(LENGTH "${marker}" marker_length)
math(EXPR start "${start} + ${marker_length}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```\n" end)
string(SUBSTRING "${rest}" 0 ${end} shown)
if(NOT shown STREQUAL example)
    message(FATAL_ERROR "the README's C++ example differs from ${EXAMPLE}: copy the file into it")
endif()
