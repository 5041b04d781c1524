include(CMakePackageConfigHelpers)

# Installs a library target, its public headers and the Qonduit CMake package
# so that find_package(Qonduit) works from a separate project.
function(qonduit_install_package target)
    cmake_parse_arguments(arg "" "" "HEADERS" ${ARGN})
    install(TARGETS ${target} EXPORT QonduitTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    install(FILES ${arg_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/Qonduit)

    set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Qonduit)
    install(EXPORT QonduitTargets NAMESPACE Qonduit:: DESTINATION ${config_dir})
    configure_package_config_file(
        "${PROJECT_SOURCE_DIR}/cmake/QonduitConfig.cmake.in"
        "${PROJECT_BINARY_DIR}/QonduitConfig.cmake"
        INSTALL_DESTINATION ${config_dir}
        PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
    write_basic_package_version_file(
        "${PROJECT_BINARY_DIR}/QonduitConfigVersion.cmake"
        COMPATIBILITY SameMajorVersion)
    install(FILES
        "${PROJECT_BINARY_DIR}/QonduitConfig.cmake"
        "${PROJECT_BINARY_DIR}/QonduitConfigVersion.cmake"
        DESTINATION ${config_dir})
endfunction()
