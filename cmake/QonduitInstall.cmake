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
        PATH_VARS CMAKE_INSTALL_INCLUDEDIR QONDUIT_INSTALL_QMLDIR)
    write_basic_package_version_file(
        "${PROJECT_BINARY_DIR}/QonduitConfigVersion.cmake"
        COMPATIBILITY SameMajorVersion)
    install(FILES
        "${PROJECT_BINARY_DIR}/QonduitConfig.cmake"
        "${PROJECT_BINARY_DIR}/QonduitConfigVersion.cmake"
        DESTINATION ${config_dir})
endfunction()

# Where the QML module goes: <prefix>/<QONDUIT_INSTALL_QMLDIR>/Qonduit. Apps
# built against the package add Qonduit_QML_IMPORT_DIR (set by
# QonduitConfig.cmake) to their engine's import path, or QML_IMPORT_PATH.
set(QONDUIT_INSTALL_QMLDIR "${CMAKE_INSTALL_LIBDIR}/qml" CACHE STRING
    "Where the QML module is installed, relative to the prefix")

# Installs a QML module made by qt_add_qml_module (URI Qonduit): its backing
# library beside the core library, and its plugin, qmldir and type
# information in the module's import directory. They are not exported: apps
# never link them, the QML engine loads the plugin.
function(qonduit_install_qml_module backing_target plugin_target)
    set(module_dir "${QONDUIT_INSTALL_QMLDIR}/Qonduit")
    # The plugin finds the backing and core libraries in the library folder.
    file(RELATIVE_PATH to_libdir "/${module_dir}" "/${CMAKE_INSTALL_LIBDIR}")
    set_target_properties(${plugin_target} PROPERTIES INSTALL_RPATH "$ORIGIN/${to_libdir}")
    set_target_properties(${backing_target} PROPERTIES INSTALL_RPATH "$ORIGIN")
    install(TARGETS ${backing_target}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    install(TARGETS ${plugin_target} LIBRARY DESTINATION ${module_dir})
    get_target_property(output_dir ${backing_target} QT_QML_MODULE_OUTPUT_DIRECTORY)
    get_target_property(typeinfo ${backing_target} QT_QML_MODULE_TYPEINFO)
    install(FILES "${output_dir}/qmldir" "${output_dir}/${typeinfo}" DESTINATION ${module_dir})
endfunction()
