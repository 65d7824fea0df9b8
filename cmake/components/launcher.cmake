# vmail-launch: the container entrypoint (config rendering, certificates,
# supervision of Postfix and Dovecot). Its code lives in vmailcore (src/launch_*),
# which also gains the embedded templates and OpenSSL (also used by `vmail health`).
file(GLOB_RECURSE VMAIL_TEMPLATES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/templates/*.mustache)
list(SORT VMAIL_TEMPLATES)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/generated/templates.cc
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_BINARY_DIR}/generated/templates.cc
          -DBASE=${CMAKE_SOURCE_DIR}/templates
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_templates.cmake
  DEPENDS ${VMAIL_TEMPLATES} ${CMAKE_SOURCE_DIR}/cmake/embed_templates.cmake
  COMMENT "Embedding templates")
target_sources(vmailcore PRIVATE ${CMAKE_BINARY_DIR}/generated/templates.cc)
target_link_libraries(vmailcore PUBLIC OpenSSL::SSL OpenSSL::Crypto)

add_executable(vmail-launch cli/launch_main.cc)
target_link_libraries(vmail-launch PRIVATE vmailcore CLI11::CLI11)
install(TARGETS vmail-launch RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
