# Helpers shared by every folder's CMakeLists.txt.

# aisle_expose_folder(TARGET): makes the calling folder's headers, and only
# them, visible to TARGET and to whatever links it, as "<folder>/x.h".
# Each library gets a private include root in the build tree that holds a
# link to its own folder, so that a library can include only the folders
# of the libraries it links (core cannot include "server/...": the layering
# is checked by the compiler, not by review).
function(aisle_expose_folder target)
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(root ${CMAKE_BINARY_DIR}/include/${target})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/${folder} SYMBOLIC)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${root})
  else()
    target_include_directories(${target} PUBLIC ${root})
  endif()
endfunction()

# Test suites that run as one CTest entry named after the suite, as
# BINARY:SUITE: each of their cases would otherwise pay again, in a process
# of its own, for the fixture the suite shares. AnnIndexRecallTest builds a
# 20000-vector HNSW index in SetUpTestSuite (~10 s; 4 cases).
set(AISLE_WHOLE_SUITES "core_vector_index_test:AnnIndexRecallTest")

# aisle_test(NAME SRCS src... LIBS lib...): a GoogleTest binary, one CTest
# entry per test case (per suite for the AISLE_WHOLE_SUITES). Tests find
# the shared data (MovieLens) through AISLE_SHARED_DATA and skip when it is
# absent.
function(aisle_test name)
  cmake_parse_arguments(T "" "" "SRCS;LIBS" ${ARGN})
  add_executable(${name} ${T_SRCS})
  target_link_libraries(${name} PRIVATE ${T_LIBS} aisle::test_support
    GTest::gtest GTest::gmock GTest::gtest_main)
  set(env "AISLE_SHARED_DATA=${PROJECT_SOURCE_DIR}/../shared/data")
  set(whole "")
  foreach(entry ${AISLE_WHOLE_SUITES})
    string(REPLACE ":" ";" parts ${entry})
    list(GET parts 0 binary)
    list(GET parts 1 suite)
    if(binary STREQUAL name)
      list(APPEND whole ${suite})
      add_test(NAME ${suite} COMMAND ${name} --gtest_filter=${suite}.*)
      set_tests_properties(${suite} PROPERTIES ENVIRONMENT "${env}")
    endif()
  endforeach()
  if(whole)
    list(JOIN whole ".*:" excluded)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
      TEST_FILTER "-${excluded}.*" PROPERTIES ENVIRONMENT "${env}")
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
      PROPERTIES ENVIRONMENT "${env}")
  endif()
endfunction()

# aisle_folder_tests(PREFIX LIBS lib... [SRCS extra...]): one test binary
# <PREFIX>_<name> per <name>_test.cc in the calling folder.
function(aisle_folder_tests prefix)
  if(NOT AISLE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SRCS;LIBS" ${ARGN})
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  foreach(src ${tests})
    get_filename_component(name ${src} NAME_WE)
    aisle_test(${prefix}_${name} SRCS ${src} ${T_SRCS} LIBS ${T_LIBS})
  endforeach()
endfunction()

# aisle_folder_benchmarks(LIBS lib...): one Google Benchmark binary <name>
# per <name>_benchmark.cc in the calling folder.
function(aisle_folder_benchmarks)
  if(NOT AISLE_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(B "" "" "LIBS" ${ARGN})
  file(GLOB benchmarks CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_benchmark.cc)
  foreach(src ${benchmarks})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE ${B_LIBS} benchmark::benchmark)
    aisle_benchmark_smoke_test(${name})
  endforeach()
endfunction()

# aisle_benchmark_smoke_test(NAME): a CTest entry "benchmark_smoke_<NAME>"
# that runs the benchmark once, briefly, so that none rots unnoticed
# (scripts/bench.sh runs them for real). Each binary gets the filter of its
# cheapest cases; ALS data is shrunk by AISLE_BENCH_NNZ (1M, the least
# at which its generator finishes). The ANN and model
# benchmarks have no size below 100k items (minutes to build an index), so
# they are only started and list their cases.
function(aisle_benchmark_smoke_test name)
  if(NOT AISLE_BUILD_TESTS)
    return()
  endif()
  set(args --benchmark_min_time=0.001)
  if(name STREQUAL "als_benchmark")
    list(APPEND args "--benchmark_filter=BM_FoldIn/50|BM_AlsIteration/1")
  elseif(name STREQUAL "engine_benchmark")
    list(APPEND args "--benchmark_filter=BM_(ForYou|Trending|ApplyEvent)/20000$")
  elseif(name STREQUAL "store_benchmark")
    # Its cases set MinTime(1.0), which the command line cannot shorten:
    # one batch size on one thread and the other on 16, not all six.
    list(APPEND args
      "--benchmark_filter=BM_AppendEvents/machine:0/batch:(1/.*threads:1|100/.*threads:16)$")
  elseif(name STREQUAL "vector_index_benchmark" OR name STREQUAL "model_benchmark")
    list(APPEND args --benchmark_list_tests=true)
  endif()
  add_test(NAME benchmark_smoke_${name} COMMAND ${name} ${args})
  set_tests_properties(benchmark_smoke_${name} PROPERTIES
    ENVIRONMENT "AISLE_BENCH_NNZ=1000000" TIMEOUT 120 LABELS benchmark_smoke)
endfunction()

# aisle_library_sources(VAR): the calling folder's .cc files that are not
# tests, benchmarks or main.cc.
function(aisle_library_sources var)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER sources EXCLUDE REGEX "(_test|_benchmark|/main)\\.cc$")
  set(${var} ${sources} PARENT_SCOPE)
endfunction()
