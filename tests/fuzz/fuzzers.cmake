# What the fuzz targets are made of, shared by this directory (tst_fuzzreplay,
# and the libFuzzer targets when the tree is built with clang) and by
# clang/CMakeLists.txt (the libFuzzer targets, built with clang beside a tree
# built with another compiler). QONDUIT_SOURCE_DIR is the repository's root.
#
# Like the wire unit tests, these compile the wire sources themselves: the
# library hides their symbols, and linking it too would be an ODR violation.
set(qonduit_fuzz_wire_sources
    ${QONDUIT_SOURCE_DIR}/src/wire/frame.cpp
    ${QONDUIT_SOURCE_DIR}/src/wire/payloadarena.cpp
    ${QONDUIT_SOURCE_DIR}/src/wire/messagecodec.cpp
    ${QONDUIT_SOURCE_DIR}/tests/fuzz/fuzzentries.h
    ${QONDUIT_SOURCE_DIR}/tests/fuzz/fuzzentries.cpp)
set(qonduit_fuzz_targets framedecoder messagecodec)

function(qonduit_fuzz_target_setup name)
    target_include_directories(${name} PRIVATE "${QONDUIT_SOURCE_DIR}/src")
    target_link_libraries(${name} PRIVATE Qt6::Core)
    target_compile_definitions(${name} PRIVATE QT_NO_KEYWORDS QT_NO_FOREACH QT_USE_QSTRINGBUILDER)
    target_compile_features(${name} PRIVATE cxx_std_17)
endfunction()

# fuzz_framedecoder and fuzz_messagecodec, when the compiler is clang and
# links -fsanitize=fuzzer.
function(qonduit_add_libfuzzer_targets)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
        message(STATUS "Fuzzers not built: libFuzzer needs clang")
        return()
    endif()
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
    set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer,address,undefined")
    check_cxx_source_compiles([[
        #include <cstddef>
        #include <cstdint>
        extern "C" int LLVMFuzzerTestOneInput(const uint8_t *, size_t) { return 0; }
    ]] QONDUIT_HAVE_LIBFUZZER)
    if(NOT QONDUIT_HAVE_LIBFUZZER)
        message(STATUS "Fuzzers not built: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer "
                       "(on Debian: apt-get install libclang-rt-14-dev)")
        return()
    endif()
    foreach(target IN LISTS qonduit_fuzz_targets)
        add_executable(fuzz_${target} ${QONDUIT_SOURCE_DIR}/tests/fuzz/fuzz_${target}.cpp
                                      ${qonduit_fuzz_wire_sources})
        qonduit_fuzz_target_setup(fuzz_${target})
        target_compile_options(fuzz_${target} PRIVATE
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
        target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer,address,undefined)
    endforeach()
endfunction()
