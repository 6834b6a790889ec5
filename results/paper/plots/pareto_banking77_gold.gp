# pareto_banking77_gold.gp: written by deferbench report; `gnuplot pareto_banking77_gold.gp` in this folder reads pareto_banking77_gold.dat
# and writes pareto_banking77_gold.png and pareto_banking77_gold.svg.
do for [out = 1:2] {
  if (out == 1) {
    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
      set terminal pngcairo size 640,440
    } else {
      set terminal png size 640,440
    }
    set output 'pareto_banking77_gold.png'
  } else {
    set terminal svg size 640,440
    set output 'pareto_banking77_gold.svg'
  }
  set termoption noenhanced
  set key below
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  set grid
  set xlabel 'test coverage'
  set ylabel 'test agreement'
  set multiplot layout 1,1
  set title 'banking77_gold: mode=guaranteed'
  plot 'pareto_banking77_gold.dat' index 0 using 1:($3 == 0 ? $2 : 1/0) with points pt 6 lc rgb 'gray50' title 'candidates', \
       'pareto_banking77_gold.dat' index 0 using 1:($3 == 1 ? $2 : 1/0) with points pt 7 lc rgb 'red' title 'frontier', \
       0.9 with lines dt 2 lc rgb 'black' title 'target 0.9'
  unset multiplot
  set output
}
