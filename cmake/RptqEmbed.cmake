# rptq_embed_files(<output .inc> <what> <source=name>...): the files (paths relative to the source
# root) as a kEmbeddedFiles table for the file that includes <output> (cmake/EmbedFiles.cmake), so
# that an installed tool carries them and needs no source tree.
function(rptq_embed_files output what)
  set(deps "")
  foreach(pair IN LISTS ARGN)
    string(REPLACE "=" ";" parts "${pair}")
    list(GET parts 0 rel)
    list(APPEND deps ${CMAKE_SOURCE_DIR}/${rel})
  endforeach()
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} -DBASE=${CMAKE_SOURCE_DIR}
            "-DFILES=${ARGN}" -P ${CMAKE_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${deps} ${CMAKE_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Embedding the ${what}"
    VERBATIM)
endfunction()
