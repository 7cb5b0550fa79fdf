# SPDX-License-Identifier: Apache-2.0
# Sanitizer and fuzzing builds, each in a build directory of its own (the
# main build's ctest drives them: tests/sanitize, tests/fuzz).
#   -DMYELIN_SANITIZE=address,undefined  every C/C++ target under ASan+UBSan (build-asan/)
#   -DMYELIN_FUZZ=ON                     also the libFuzzer targets of tests/fuzz; clang only (build-fuzz/)
# BPF objects have their own compile rule (cmake/Bpf.cmake): these flags never reach them.
set(MYELIN_SANITIZE "" CACHE STRING "sanitizers for every C/C++ target, e.g. address,undefined")
option(MYELIN_FUZZ "build the libFuzzer targets (needs clang)" OFF)
if(MYELIN_FUZZ AND NOT MYELIN_SANITIZE)
  set(MYELIN_SANITIZE address,undefined)
endif()
if(MYELIN_SANITIZE)
  # No recovery: the first report ends the process, so a test cannot pass over it.
  add_compile_options(-fsanitize=${MYELIN_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${MYELIN_SANITIZE})
endif()
if(MYELIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MYELIN_FUZZ needs clang for libFuzzer: -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  # Coverage for libFuzzer in every library; only the fuzz targets link the fuzzer itself.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
