# Installing doppel as a CMake package and as shipped programs:
#   cmake --install <build> --prefix P [--component dev|runtime|python]
# - dev: headers, the static libraries and lib/cmake/doppel/doppelConfig.cmake with the exported
#   targets doppel::doppel (eager + compile + export + TensorBoard's SummaryWriter: everything)
#   and doppel::runtime (load and run exported .dpl models: core + kernels + runtime, no eager),
#   for find_package(doppel CONFIG);
# - runtime: bin/doppel-run, bin/doppel-serve and the oneDNN library they load (lib/), with
#   RUNPATH $ORIGIN/../lib: the prefix can be copied anywhere (the Dockerfile's serving image);
# - python: the extension of the Python wheel (pyproject.toml), RUNPATH relative to the package.
# The same two names exist for add_subdirectory(doppel) consumers (ALIAS targets).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DOPPEL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/doppel)

# A library's public headers: include/ beside its CMakeLists.txt in the build, the prefix's
# include/ once installed (all public include/ folders install into the one include/).
function(doppel_public_headers target)
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
endfunction()

# oneDNN's library file and its SONAME (libdnnl.so.3.2, libdnnl.so.3), to ship next to what loads it.
function(doppel_dnnl_library file_out soname_out)
  foreach(_suffix _RELEASE "")
    get_target_property(_loc DNNL::dnnl IMPORTED_LOCATION${_suffix})
    get_target_property(_soname DNNL::dnnl IMPORTED_SONAME${_suffix})
    if(_loc AND _soname)
      get_filename_component(_loc ${_loc} REALPATH)
      set(${file_out} ${_loc} PARENT_SCOPE)
      set(${soname_out} ${_soname} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "doppel: oneDNN's imported target DNNL::dnnl names no library file and SONAME")
endfunction()

# The runtime component: the programs, with oneDNN's library beside them in lib/.
function(doppel_install_programs)
  doppel_dnnl_library(_dnnl _dnnl_name)
  install(FILES ${_dnnl} DESTINATION ${CMAKE_INSTALL_LIBDIR} RENAME ${_dnnl_name} COMPONENT runtime)
  if(TARGET doppel-run)
    set_target_properties(doppel-run doppel-serve PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
    install(TARGETS doppel-run doppel-serve RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  endif()
endfunction()

# Called at the end of the top-level CMakeLists.txt, once every target exists. The lean runtime
# build (DOPPEL_LEAN_RUNTIME) has the programs only: no package for consumers.
function(doppel_install_rules)
  doppel_install_programs()
  if(DOPPEL_LEAN_RUNTIME)
    return()
  endif()
  add_library(doppel INTERFACE)
  target_link_libraries(doppel INTERFACE doppel_graph)
  if(DOPPEL_TENSORBOARD)
    target_link_libraries(doppel INTERFACE doppel_tensorboard)
  endif()
  target_link_libraries(doppel INTERFACE doppel_trainer doppel_models doppel_quantize)
  if(DOPPEL_DISTRIBUTED)
    target_link_libraries(doppel INTERFACE doppel_distributed)
  endif()
  add_library(doppel_runtime INTERFACE)
  set_target_properties(doppel_runtime PROPERTIES EXPORT_NAME runtime)
  target_link_libraries(doppel_runtime INTERFACE doppel_graph_runtime)
  add_library(doppel::doppel ALIAS doppel)
  add_library(doppel::runtime ALIAS doppel_runtime)

  set(_libs doppel_core doppel_kernels doppel_profiler doppel_eager doppel_graph_runtime doppel_graph doppel_trainer
            doppel_models doppel_quantize)
  if(DOPPEL_TENSORBOARD)
    list(APPEND _libs doppel_tensorboard doppel_tensorboard_proto)
  endif()
  if(DOPPEL_DISTRIBUTED)
    list(APPEND _libs doppel_distributed)
  endif()
  foreach(t IN LISTS _libs)
    string(REPLACE "doppel_" "" _name ${t})
    set_target_properties(${t} PROPERTIES EXPORT_NAME ${_name})
  endforeach()
  set(_exported ${_libs} doppel doppel_runtime)
  if(DOPPEL_CUDA)
    list(APPEND _exported doppel_cudnn)
  endif()
  install(TARGETS ${_exported} EXPORT doppelTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  install(EXPORT doppelTargets NAMESPACE doppel:: DESTINATION ${DOPPEL_INSTALL_CMAKEDIR} COMPONENT dev)
  # oneDNN travels with the package: consumers and the shipped programs load it from lib/.
  doppel_dnnl_library(_dnnl DOPPEL_DNNL_NAME)
  install(FILES ${_dnnl} DESTINATION ${CMAKE_INSTALL_LIBDIR} RENAME ${DOPPEL_DNNL_NAME} COMPONENT dev)
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/doppelConfig.cmake.in
                                ${PROJECT_BINARY_DIR}/doppelConfig.cmake INSTALL_DESTINATION ${DOPPEL_INSTALL_CMAKEDIR})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/doppelConfigVersion.cmake COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/doppelConfig.cmake ${PROJECT_BINARY_DIR}/doppelConfigVersion.cmake
          DESTINATION ${DOPPEL_INSTALL_CMAKEDIR} COMPONENT dev)
endfunction()
