# coverage_vs_target_banking77_gold.gp: written by deferbench report; `gnuplot coverage_vs_target_banking77_gold.gp` in this folder reads coverage_vs_target_banking77_gold.dat
# and writes coverage_vs_target_banking77_gold.png and coverage_vs_target_banking77_gold.svg.
do for [out = 1:2] {
  if (out == 1) {
    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
      set terminal pngcairo size 640,440
    } else {
      set terminal png size 640,440
    }
    set output 'coverage_vs_target_banking77_gold.png'
  } else {
    set terminal svg size 640,440
    set output 'coverage_vs_target_banking77_gold.svg'
  }
  set termoption noenhanced
  set key below
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  set grid
  set xlabel 'target'
  set ylabel 'test coverage'
  set yrange [0:1]
  set style fill transparent solid 0.15 noborder
  set multiplot layout 1,1
  set title 'banking77_gold: mode=guaranteed'
  plot 'coverage_vs_target_banking77_gold.dat' index 0 using 1:3:4 with filledcurves lc 1 notitle, 'coverage_vs_target_banking77_gold.dat' index 0 using 1:2 with linespoints lc 1 pt 7 lw 2 title 'global', \
       'coverage_vs_target_banking77_gold.dat' index 0 using 1:6:7 with filledcurves lc 2 notitle, 'coverage_vs_target_banking77_gold.dat' index 0 using 1:5 with linespoints lc 2 pt 7 lw 2 title 'l2d', \
       'coverage_vs_target_banking77_gold.dat' index 0 using 1:9:10 with filledcurves lc 3 notitle, 'coverage_vs_target_banking77_gold.dat' index 0 using 1:8 with linespoints lc 3 pt 7 lw 2 title 'rsb', \
       'coverage_vs_target_banking77_gold.dat' index 0 using 1:12:13 with filledcurves lc 4 notitle, 'coverage_vs_target_banking77_gold.dat' index 0 using 1:11 with linespoints lc 4 pt 7 lw 2 title 'selected'
  unset multiplot
  set output
}
