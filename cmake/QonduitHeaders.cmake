# Public headers live beside their sources (src/<layer>/x.h) but users include
# them as <Qonduit/x.h>. In the build tree a one-line forwarding header gives
# them that path, the way Qt's own build forwards module headers; installing
# copies the real headers into include/Qonduit.
function(qonduit_forward_headers target)
    cmake_parse_arguments(arg "" "INCLUDE_DIR" "HEADERS" ${ARGN})
    foreach(header IN LISTS arg_HEADERS)
        get_filename_component(name "${header}" NAME)
        get_filename_component(source "${header}" ABSOLUTE)
        set(forward "${arg_INCLUDE_DIR}/Qonduit/${name}")
        set(content "#include \"${source}\"\n")
        if(EXISTS "${forward}")
            file(READ "${forward}" existing)
        endif()
        if(NOT existing STREQUAL content)
            file(WRITE "${forward}" "${content}")
        endif()
        unset(existing)
    endforeach()
endfunction()
