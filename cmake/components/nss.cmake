# libnss_vmail.so.2: the glibc NSS module (SPEC "NSS"). A thin extern "C" layer
# (nss/) over the core library's lookups (src/lookup.*). Only _nss_vmail_* is
# exported: hidden visibility, a version script, and --exclude-libs so nothing
# from the static core library or libstdc++ leaks into every process that
# resolves a user name.
#
# Built in the build folder's root under its final name, so
#   LD_LIBRARY_PATH=<build> getent -s vmail passwd alice@example.com
# works without installing anything.
add_library(nss_vmail SHARED ${CMAKE_SOURCE_DIR}/nss/nss_vmail.cc)
target_link_libraries(nss_vmail PRIVATE vmailcore)
set_target_properties(nss_vmail PROPERTIES
  PREFIX "lib"
  OUTPUT_NAME "nss_vmail"
  SUFFIX ".so.2"
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LINK_DEPENDS ${CMAKE_SOURCE_DIR}/nss/nss_vmail.map)
target_link_options(nss_vmail PRIVATE
  -Wl,--version-script=${CMAKE_SOURCE_DIR}/nss/nss_vmail.map
  -Wl,--exclude-libs,ALL
  # The core library drags spdlog, OpenSSL, ... onto the link line; only what
  # the lookups really use (SQLite, libcrypt via the settings parser) is kept.
  -Wl,--as-needed
  -Wl,-z,relro,-z,now)
if(NOT VMAIL_SANITIZE)
  # Under ASan the runtime lives in the executable, so undefined symbols are expected.
  target_link_options(nss_vmail PRIVATE -Wl,-z,defs)
endif()
# glibc dlopen()s NSS modules by soname: they belong in the multiarch library
# folder, under any prefix (Debian's ld.so.conf lists
# /usr/local/lib/<multiarch> too; run ldconfig after installing there).
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(VMAIL_NSS_LIBDIR_DEFAULT lib/${CMAKE_LIBRARY_ARCHITECTURE})
else()
  set(VMAIL_NSS_LIBDIR_DEFAULT ${CMAKE_INSTALL_LIBDIR})
endif()
set(VMAIL_NSS_LIBDIR ${VMAIL_NSS_LIBDIR_DEFAULT} CACHE STRING "install folder of libnss_vmail.so.2, relative to the prefix")
install(TARGETS nss_vmail LIBRARY DESTINATION ${VMAIL_NSS_LIBDIR} COMPONENT nss)

# The module loaded with dlopen() the way glibc loads it: 16 threads x 10k
# getpwnam_r, short buffers, enumeration, no database. Runs in the sanitizer pass.
add_executable(nss_threads_test ${CMAKE_SOURCE_DIR}/tests/nss_threads.cc)
target_link_libraries(nss_threads_test PRIVATE vmailcore GTest::gtest_main ${CMAKE_DL_LIBS})
target_compile_definitions(nss_threads_test PRIVATE VMAIL_NSS_MODULE="$<TARGET_FILE:nss_vmail>")
add_dependencies(nss_threads_test nss_vmail)
enable_testing()
add_test(NAME nss.threads COMMAND nss_threads_test)
set_tests_properties(nss.threads PROPERTIES LABELS "unit;sanitize" TIMEOUT 600)

# bench/nss_getpwnam.sh: getpwnam(3) latency through a chosen NSS service. Not a test.
add_executable(nss_getpwnam_bench ${CMAKE_SOURCE_DIR}/bench/nss_getpwnam.cc)
