# SPDX-License-Identifier: Apache-2.0
# Compiles one CO-RE BPF object and wraps it in a bpftool skeleton.
#   myelin_bpf_object(NAME lxc SOURCE lxc.bpf.c)
# gives an INTERFACE target `bpf_<NAME>` carrying <NAME>.skel.h, libbpf, elf and z,
# and the object itself at ${CMAKE_BINARY_DIR}/bpf/<NAME>.bpf.o (tests read its BTF).
# Every object is also listed in the global property MYELIN_BPF_OBJECTS (its
# generating target in MYELIN_BPF_TARGETS), so the ABI test reads them all.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(MYELIN_BPF_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${MYELIN_BPF_DIR})
set(MYELIN_VMLINUX_H ${MYELIN_BPF_DIR}/vmlinux.h)
add_custom_command(
  OUTPUT ${MYELIN_VMLINUX_H}
  COMMAND bash -c "${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${MYELIN_VMLINUX_H}.tmp && mv ${MYELIN_VMLINUX_H}.tmp ${MYELIN_VMLINUX_H}"
  COMMENT "Generating vmlinux.h from the running kernel's BTF"
  VERBATIM)
add_custom_target(vmlinux_h DEPENDS ${MYELIN_VMLINUX_H})

function(myelin_bpf_object)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "" ${ARGN})
  set(obj ${MYELIN_BPF_DIR}/${ARG_NAME}.bpf.o)
  set(skel ${MYELIN_BPF_DIR}/${ARG_NAME}.skel.h)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE})
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${MYELIN_BPF_DIR} -I${PROJECT_SOURCE_DIR}/datapath/include -I${PROJECT_SOURCE_DIR}/datapath
            -MD -MF ${obj}.d -c ${src} -o ${obj}
    DEPENDS ${src}
    DEPFILE ${obj}.d
    COMMENT "BPF ${ARG_NAME}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND bash -c "${BPFTOOL} gen skeleton ${obj} name ${ARG_NAME} > ${skel}.tmp && mv ${skel}.tmp ${skel}"
    DEPENDS ${obj}
    COMMENT "Skeleton ${ARG_NAME}"
    VERBATIM)
  add_custom_target(bpf_${ARG_NAME}_gen DEPENDS ${skel})
  add_dependencies(bpf_${ARG_NAME}_gen vmlinux_h)  # generated in another directory
  add_library(bpf_${ARG_NAME} INTERFACE)
  add_dependencies(bpf_${ARG_NAME} bpf_${ARG_NAME}_gen)
  target_include_directories(bpf_${ARG_NAME} INTERFACE ${MYELIN_BPF_DIR} ${PROJECT_SOURCE_DIR}/datapath/include)
  target_link_libraries(bpf_${ARG_NAME} INTERFACE PkgConfig::LIBBPF elf z)
  set_property(GLOBAL APPEND PROPERTY MYELIN_BPF_OBJECTS ${obj})
  set_property(GLOBAL APPEND PROPERTY MYELIN_BPF_TARGETS bpf_${ARG_NAME}_gen)
endfunction()
