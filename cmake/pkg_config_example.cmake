# Compiles and runs a C++ file with the flags of the installed gnntrack.pc (ctest script).
# -DPREFIX=<install prefix> -DCXX=<compiler> -DSOURCE=<file.cpp> -DOUTPUT=<executable>
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs gnntrack
    OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs gnntrack failed")
endif()
message(STATUS "pkg-config: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")
# The flags alone give a working program: gnntrack.pc carries the run-time path.
execute_process(COMMAND ${CXX} -std=c++17 -O2 "${SOURCE}" ${flags} -o "${OUTPUT}"
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} with the pkg-config flags failed")
endif()
execute_process(COMMAND "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${OUTPUT} failed (${rc})")
endif()
