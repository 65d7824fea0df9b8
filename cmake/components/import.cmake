# Batch import (src/import*.cc, cli/import_command.cc): CSV through Debian's
# libcsv (libcsv-dev). With -DVMAIL_FUZZ=ON and clang, a libFuzzer target for
# the file readers (bench/fuzz_import.sh builds and runs it; not part of CI).
find_path(CSV_INCLUDE_DIR csv.h REQUIRED)
find_library(CSV_LIBRARY csv REQUIRED)
target_include_directories(vmailcore PRIVATE ${CSV_INCLUDE_DIR})
target_link_libraries(vmailcore PUBLIC ${CSV_LIBRARY})

option(VMAIL_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(VMAIL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VMAIL_FUZZ needs clang: CXX=clang++ CC=clang cmake ...")
  endif()
  # The readers are built again with coverage instrumentation; the rest of the
  # core library is linked as is.
  add_executable(fuzz_import_source ${CMAKE_SOURCE_DIR}/tests/fuzz_import_source.cc
                                    ${CMAKE_SOURCE_DIR}/src/import_source.cc)
  target_include_directories(fuzz_import_source PRIVATE ${CMAKE_SOURCE_DIR}/src ${CSV_INCLUDE_DIR})
  target_compile_options(fuzz_import_source PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_import_source PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_import_source PRIVATE vmailcore)
endif()
