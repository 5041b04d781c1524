# Run by tst_install as
#   cmake -DPARAMS=<build>/tests/install/install-test-params.cmake -DCONFIG=<cfg> -P RunInstallTest.cmake
# Steps, each fatal on failure:
#   1. cmake --install the Qonduit build into a fresh prefix under WORK_DIR;
#   2. configure and build tests/install/consumer against that prefix;
#   3. run the consumer (a local channel round trip) and, with the QML module,
#      the QML consumer (a QML round trip, the module found through the package);
#   4. configure and build examples/ as a standalone project against the prefix;
#   5. when the package has the QML module, run the QML example built in step 4
#      (offscreen, with its own producer): it must find `import Qonduit` in
#      the prefix through Qonduit_QML_IMPORT_DIR and render real data.
cmake_minimum_required(VERSION 3.21)

if(NOT DEFINED PARAMS OR NOT EXISTS "${PARAMS}")
    message(FATAL_ERROR "Pass -DPARAMS=<install-test-params.cmake> (written when the build is configured)")
endif()
include("${PARAMS}")

set(prefix "${WORK_DIR}/prefix")

set(config_args "")
set(build_type_args "")
if(NOT "${CONFIG}" STREQUAL "")
    set(config_args --config "${CONFIG}")
    if(NOT MULTI_CONFIG)
        set(build_type_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
    endif()
endif()
set(generator_args -G "${GENERATOR}")
if(NOT "${GENERATOR_PLATFORM}" STREQUAL "")
    list(APPEND generator_args -A "${GENERATOR_PLATFORM}")
endif()
if(NOT "${GENERATOR_TOOLSET}" STREQUAL "")
    list(APPEND generator_args -T "${GENERATOR_TOOLSET}")
endif()

# Runs a command; its output goes to the test's log.
function(run_step description)
    message(STATUS "tst_install: ${description}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "tst_install: ${description} failed (${result})")
    endif()
endfunction()

# Configures and builds a project against the installed package, and checks
# that find_package(Qonduit) found the package in the prefix, not elsewhere.
function(build_project description source_dir binary_dir)
    run_step("configure ${description}"
        "${CMAKE_COMMAND}" -S "${source_dir}" -B "${binary_dir}"
        ${generator_args} -C "${CHILD_CACHE}" ${build_type_args})
    file(STRINGS "${binary_dir}/CMakeCache.txt" found REGEX "^Qonduit_DIR:[A-Z]+=")
    string(REGEX REPLACE "^Qonduit_DIR:[A-Z]+=" "" found "${found}")
    string(FIND "${found}" "${prefix}/" at)
    if(NOT at EQUAL 0)
        message(FATAL_ERROR "tst_install: ${description} found Qonduit in '${found}', not in ${prefix}")
    endif()
    run_step("build ${description}" "${CMAKE_COMMAND}" --build "${binary_dir}" ${config_args})
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# 1. Install.
run_step("install into ${prefix}"
    "${CMAKE_COMMAND}" --install "${QONDUIT_BUILD_DIR}" --prefix "${prefix}" ${config_args})
file(GLOB_RECURSE package_config "${prefix}/*/QonduitConfig.cmake")
if(NOT package_config)
    message(FATAL_ERROR "tst_install: no QonduitConfig.cmake installed under ${prefix}")
endif()

# 2. and 3. The consumer.
set(consumer_dir "${WORK_DIR}/consumer")
build_project("the consumer" "${CONSUMER_SOURCE_DIR}" "${consumer_dir}")
set(consumer "${consumer_dir}/qonduit_consumer")
if(MULTI_CONFIG)
    set(consumer "${consumer_dir}/${CONFIG}/qonduit_consumer")
endif()
message(STATUS "tst_install: run the consumer")
execute_process(COMMAND "${consumer}" TIMEOUT 60 RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "tst_install: the consumer failed (${result})")
endif()

# 3b. The QML consumer: `import Qonduit` found through the installed package.
set(qml_consumer "${consumer_dir}/qonduit_qml_consumer")
if(MULTI_CONFIG)
    set(qml_consumer "${consumer_dir}/${CONFIG}/qonduit_qml_consumer")
endif()
if(NOT EXISTS "${qml_consumer}" AND EXISTS "${QONDUIT_BUILD_DIR}/bin/Qonduit/qmldir")
    message(FATAL_ERROR "tst_install: the QML module was built but the QML consumer was not: "
        "Qonduit_QML_IMPORT_DIR did not reach it")
endif()
if(EXISTS "${qml_consumer}")
    message(STATUS "tst_install: run the QML consumer")
    execute_process(COMMAND "${qml_consumer}" TIMEOUT 60 RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "tst_install: the QML consumer failed (${result})")
    endif()
endif()

# 4. The examples, as their own project.
file(GLOB example_lists "${EXAMPLES_SOURCE_DIR}/*/CMakeLists.txt")
if(NOT example_lists)
    message(FATAL_ERROR "tst_install: no example in ${EXAMPLES_SOURCE_DIR}")
endif()
build_project("the examples" "${EXAMPLES_SOURCE_DIR}" "${WORK_DIR}/examples")

# 5. The QML example against the installed module.
file(GLOB_RECURSE installed_qmldir "${prefix}/qmldir")
list(FILTER installed_qmldir INCLUDE REGEX "/Qonduit/qmldir$")
if(installed_qmldir)
    set(dashboard "${WORK_DIR}/examples/bin/qonduit-dashboard")
    if(MULTI_CONFIG)
        set(dashboard "${WORK_DIR}/examples/bin/${CONFIG}/qonduit-dashboard")
    endif()
    # A name of its own: tst_install may run beside another build's.
    string(RANDOM LENGTH 12 ALPHABET "0123456789abcdef" name)
    run_step("run the QML dashboard against the installed module"
        "${CMAKE_COMMAND}" -E env QT_QPA_PLATFORM=offscreen
        "${dashboard}" --spawn-producer --connect "local:qonduit-install-${name}"
        --screenshot "${WORK_DIR}/dashboard.png" --samples 20 --timeout 60)
else()
    message(STATUS "tst_install: the package has no QML module; not running the QML example")
endif()

message(STATUS "tst_install: passed")
